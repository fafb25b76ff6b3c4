select
    'justcall' as source,
    cast(id as {{ dbt.type_string() }}) as source_id,
    cast(sms_date || ' ' || sms_time as timestamp) as sent_at,
    {{ direction('direction', ['incoming', 'inbound'], ['outgoing', 'outbound']) }} as direction,
    cast(agent_id as {{ dbt.type_string() }}) as user_id,
    {{ e164('contact_number') }} as external_number,
    {{ e164('justcall_number') }} as own_number,
    lower(delivery_status) as delivery_status
from {{ source('justcall', 'sms') }}
