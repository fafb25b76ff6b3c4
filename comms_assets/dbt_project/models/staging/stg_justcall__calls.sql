select
    'justcall' as source,
    cast(id as {{ dbt.type_string() }}) as source_id,
    cast(call_date || ' ' || call_time as timestamp) as started_at,
    call_duration__total_duration as duration_s,
    greatest(call_duration__total_duration - coalesce(call_duration__ring_time, 0)
             - coalesce(call_duration__hold_time, 0), 0) as talk_s,
    {{ direction('call_info__direction', ['incoming', 'inbound'], ['outgoing', 'outbound']) }} as direction,
    lower(call_info__type) as outcome,
    cast(agent_id as {{ dbt.type_string() }}) as user_id,
    {{ email('agent_email') }} as person_email,
    {{ e164('contact_number') }} as external_number,
    coalesce(call_info__recording, '') <> '' as recorded
from {{ source('justcall', 'calls') }}
