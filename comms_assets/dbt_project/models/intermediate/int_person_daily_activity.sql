{#- Counters per source person and UTC day of the run's days. A source person is what the source
    names: an email (JustCall's calls, `system` 'email') or a user id of `system` (justcall, gong,
    lacrm); `person_daily_activity` resolves them to people and adds them up when read. -#}
with calls as (
    select
        case when person_email is not null then 'email' else source end as system,
        coalesce(person_email, user_id) as user_ref,
        day,
        count(case when direction = 'inbound' then 1 end) as calls_in,
        count(case when direction = 'outbound' then 1 end) as calls_out,
        sum(case when outcome = 'answered' then talk_s else 0 end) as talk_s,
        count(case when source = 'gong' then 1 end) as gong_calls
    from {{ ref('int_calls') }}
    where coalesce(person_email, user_id) is not null and {{ in_window('day') }}
    group by 1, 2, day
),
items as (
    select 'justcall' as system, user_id as user_ref, day, 'texts' as counter
    from {{ ref('int_messages') }} where user_id is not null and {{ in_window('day') }}
    union all
    select 'gong', reviewed_user_id, cast(call_started_at as date), 'answered_scorecards'
    from {{ ref('stg_gong__answered_scorecards') }} where {{ in_window('call_started_at') }}
    union all
    select 'lacrm', user_id, cast(due_at as date), 'lacrm_tasks'
    from {{ ref('stg_lacrm__tasks') }} where {{ in_window('due_at') }}
    union all
    select 'lacrm', user_id, cast(started_at as date), 'lacrm_events'
    from {{ ref('stg_lacrm__event_users') }} where {{ in_window('started_at') }}
),
counted as (
    select system, user_ref, day, 0 as calls_in, 0 as calls_out, 0 as talk_s, 0 as gong_calls,
        count(case when counter = 'texts' then 1 end) as texts,
        count(case when counter = 'answered_scorecards' then 1 end) as answered_scorecards,
        count(case when counter = 'lacrm_tasks' then 1 end) as lacrm_tasks,
        count(case when counter = 'lacrm_events' then 1 end) as lacrm_events
    from items
    group by system, user_ref, day
    union all
    select system, user_ref, day, calls_in, calls_out, talk_s, gong_calls, 0, 0, 0, 0
    from calls
)
select
    system || ':' || cast(user_ref as {{ dbt.type_string() }}) || '/' || cast(day as {{ dbt.type_string() }})
        as activity_key,
    system,
    cast(user_ref as {{ dbt.type_string() }}) as user_ref,
    day,
    {% for counter in ['calls_in', 'calls_out', 'talk_s', 'texts', 'gong_calls', 'answered_scorecards', 'lacrm_tasks',
                       'lacrm_events'] -%}
    cast(sum({{ counter }}) as bigint) as {{ counter }}{{ "," if not loop.last }}
    {% endfor -%}
from counted
group by system, user_ref, day
