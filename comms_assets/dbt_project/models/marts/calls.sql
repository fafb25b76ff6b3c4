{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='day') }}

with gong as (
    select calls.*, users.email as person_email
    from {{ ref('stg_gong__calls') }} as calls
    left join {{ ref('stg_gong__users') }} as users on users.user_id = calls.user_id
),
calls as (
    select source, source_id, started_at, duration_s, direction, outcome, person_email, external_number, recorded
    from {{ ref('stg_justcall__calls') }}
    union all
    select source, source_id, started_at, duration_s, direction, outcome, cast(null as {{ dbt.type_string() }}),
        external_number, cast(null as boolean)
    from {{ ref('stg_ringcentral__user_call_records') }}
    union all
    select source, source_id, started_at, duration_s, direction, 'answered', person_email,
        cast(null as {{ dbt.type_string() }}), true
    from gong
)
select
    {{ identity('calls', 'call_key', 'started_at') }},
    calls.duration_s,
    calls.direction,
    calls.outcome,
    calls.person_email,
    people.name as person_name,
    calls.external_number,
    calls.recorded
from calls
left join {{ ref('people') }} as people on people.email = calls.person_email
where {{ in_window('calls.started_at') }}
