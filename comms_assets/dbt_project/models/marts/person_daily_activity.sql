{{ config(materialized='view') }}

{#- Per person (people.email) per UTC day: the source people's counters of the day, resolved to an
    email now and added up. RingCentral's calls name no person and are left out. -#}
{%- set counters = ['calls_in', 'calls_out', 'talk_s', 'texts', 'gong_calls', 'answered_scorecards', 'lacrm_tasks',
                    'lacrm_events'] %}
with users as (
    select 'justcall' as system, user_id, email from {{ ref('stg_justcall__users') }}
    union all
    select 'gong', user_id, email from {{ ref('stg_gong__users') }}
    union all
    select 'lacrm', user_id, email from {{ ref('stg_lacrm__users') }}
),
resolved as (
    select case when activity.system = 'email' then activity.user_ref else users.email end as person_email,
        activity.*
    from {{ ref('int_person_daily_activity') }} as activity
    left join users on users.system = activity.system and users.user_id = activity.user_ref
),
summed as (
    select person_email, day,
        {% for counter in counters -%}
        cast(sum({{ counter }}) as bigint) as {{ counter }}{{ "," if not loop.last }}
        {% endfor -%}
    from resolved
    where person_email is not null
    group by person_email, day
)
select
    summed.person_email || '/' || cast(summed.day as {{ dbt.type_string() }}) as activity_key,
    summed.person_email,
    people.name as person_name,
    summed.day,
    {% for counter in counters -%}
    summed.{{ counter }}{{ "," if not loop.last }}
    {% endfor -%}
from summed
left join {{ ref('people') }} as people on people.email = summed.person_email
