{{ config(materialized='view') }}

{#- The day's texts with the agent resolved to a person now (see `calls`). -#}
select
    texts.message_key,
    texts.source,
    texts.source_id,
    texts.sent_at,
    texts.day,
    texts.direction,
    texts.external_number,
    texts.own_number,
    users.email as person_email,
    people.name as person_name,
    texts.delivery_status
from {{ ref('int_messages') }} as texts
left join {{ ref('stg_justcall__users') }} as users on users.user_id = texts.user_id
left join {{ ref('people') }} as people on people.email = users.email
