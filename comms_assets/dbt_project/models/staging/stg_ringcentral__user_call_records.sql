select
    'ringcentral' as source,
    id as source_id,
    {{ utc('start_time') }} as started_at,
    duration as duration_s,
    {{ direction('direction', ['inbound'], ['outbound']) }} as direction,
    case lower(result) when 'accepted' then 'answered' when 'call connected' then 'answered'
        else lower(result) end as outcome,
    {{ e164("case when lower(direction) = 'inbound' then from__phone_number else to__phone_number end") }}
        as external_number
from {{ source('ringcentral', 'user_call_records') }}
