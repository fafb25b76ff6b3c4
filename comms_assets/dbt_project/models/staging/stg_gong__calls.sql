select
    'gong' as source,
    id as source_id,
    {{ utc('started') }} as started_at,
    duration as duration_s,
    case when lower(direction) in ('inbound', 'outbound') then lower(direction) end as direction,
    primary_user_id as user_id
from {{ source('gong', 'calls') }}
