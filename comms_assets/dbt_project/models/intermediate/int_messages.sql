{#- JustCall's texts of the run's days, with the agent's JustCall user id (resolved in `messages`). -#}
select
    {{ identity('texts', 'message_key', 'sent_at') }},
    texts.direction,
    texts.external_number,
    texts.own_number,
    texts.user_id,
    texts.delivery_status
from {{ ref('stg_justcall__sms') }} as texts
where {{ in_window('texts.sent_at') }}
