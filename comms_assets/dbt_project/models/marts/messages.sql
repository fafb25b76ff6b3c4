{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='day') }}

select
    {{ identity('texts', 'message_key', 'sent_at') }},
    texts.direction,
    texts.external_number,
    texts.own_number,
    users.email as person_email,
    people.name as person_name,
    texts.delivery_status
from {{ ref('stg_justcall__sms') }} as texts
left join {{ ref('stg_justcall__users') }} as users on users.user_id = texts.user_id
left join {{ ref('people') }} as people on people.email = users.email
where {{ in_window('texts.sent_at') }}
