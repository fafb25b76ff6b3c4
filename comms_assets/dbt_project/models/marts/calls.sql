{{ config(materialized='view') }}

{#- The day's facts with who took each call resolved now: a person's new name or Gong email shows
    on every day at once, and no day is rebuilt for it. -#}
select
    calls.call_key,
    calls.source,
    calls.source_id,
    calls.started_at,
    calls.day,
    calls.duration_s,
    calls.talk_s,
    calls.direction,
    calls.outcome,
    coalesce(calls.person_email, gong.email) as person_email,
    people.name as person_name,
    calls.external_number,
    calls.recorded
from {{ ref('int_calls') }} as calls
left join {{ ref('stg_gong__users') }} as gong on calls.source = 'gong' and gong.user_id = calls.user_id
left join {{ ref('people') }} as people on people.email = coalesce(calls.person_email, gong.email)
