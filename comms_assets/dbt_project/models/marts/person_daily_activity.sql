{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='day') }}

{#- Per person (people.email) per UTC day. RingCentral's calls name no person and are left out. -#}
with calls as (
    select person_email, day,
        count(case when direction = 'inbound' then 1 end) as calls_in,
        count(case when direction = 'outbound' then 1 end) as calls_out,
        sum(case when outcome = 'answered' then duration_s else 0 end) as talk_s,
        count(case when source = 'gong' then 1 end) as gong_calls
    from {{ ref('calls') }}
    where person_email is not null and {{ in_window('day') }}
    group by person_email, day
),
texts as (
    select person_email, day, count(*) as texts
    from {{ ref('messages') }}
    where person_email is not null and {{ in_window('day') }}
    group by person_email, day
),
scorecards as (
    {{ per_person_day('stg_gong__answered_scorecards', 'stg_gong__users', 'reviewed_user_id', 'call_started_at',
                      'answered_scorecards') }}
),
tasks as (
    {{ per_person_day('stg_lacrm__tasks', 'stg_lacrm__users', 'user_id', 'due_at', 'lacrm_tasks') }}
),
events as (
    {{ per_person_day('stg_lacrm__event_users', 'stg_lacrm__users', 'user_id', 'started_at', 'lacrm_events') }}
),
keys as (
    select person_email, day from calls
    union select person_email, day from texts
    union select person_email, day from scorecards
    union select person_email, day from tasks
    union select person_email, day from events
)
select
    keys.person_email || '/' || cast(keys.day as {{ dbt.type_string() }}) as activity_key,
    keys.person_email,
    people.name as person_name,
    keys.day,
    coalesce(calls.calls_in, 0) as calls_in,
    coalesce(calls.calls_out, 0) as calls_out,
    coalesce(calls.talk_s, 0) as talk_s,
    coalesce(texts.texts, 0) as texts,
    coalesce(calls.gong_calls, 0) as gong_calls,
    coalesce(scorecards.answered_scorecards, 0) as answered_scorecards,
    coalesce(tasks.lacrm_tasks, 0) as lacrm_tasks,
    coalesce(events.lacrm_events, 0) as lacrm_events
from keys
left join {{ ref('people') }} as people on people.email = keys.person_email
left join calls on calls.person_email = keys.person_email and calls.day = keys.day
left join texts on texts.person_email = keys.person_email and texts.day = keys.day
left join scorecards on scorecards.person_email = keys.person_email and scorecards.day = keys.day
left join tasks on tasks.person_email = keys.person_email and tasks.day = keys.day
left join events on events.person_email = keys.person_email and events.day = keys.day
