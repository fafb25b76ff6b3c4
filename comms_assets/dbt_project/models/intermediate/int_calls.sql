{#- The calls of the run's days as their sources tell them: who took a call is the source's own
    answer (JustCall's agent email, Gong's user id), resolved to a person in `calls` when read. -#}
with calls as (
    select source, source_id, started_at, duration_s, talk_s, direction, outcome,
        cast(null as {{ dbt.type_string() }}) as user_id, person_email, external_number, recorded
    from {{ ref('stg_justcall__calls') }}
    union all
    select source, source_id, started_at, duration_s, duration_s, direction, outcome,
        cast(null as {{ dbt.type_string() }}), cast(null as {{ dbt.type_string() }}), external_number,
        cast(null as boolean)
    from {{ ref('stg_ringcentral__user_call_records') }}
    union all
    select source, source_id, started_at, duration_s, duration_s, direction, 'answered', user_id,
        cast(null as {{ dbt.type_string() }}), cast(null as {{ dbt.type_string() }}), true
    from {{ ref('stg_gong__calls') }}
)
select
    {{ identity('calls', 'call_key', 'started_at') }},
    calls.duration_s,
    calls.talk_s,
    calls.direction,
    calls.outcome,
    calls.user_id,
    calls.person_email,
    calls.external_number,
    calls.recorded
from calls
where {{ in_window('calls.started_at') }}
