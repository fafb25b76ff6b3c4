{% test reconciles_with(model, inputs, key, at) %}
{#- Within the run's days, the model holds exactly the rows of its inputs, by (source, key): the
    rows it lacks and the rows it has too many, named. -#}
with expected as (
    {% for input in inputs %}
    select source, {{ key }} as source_id from {{ ref(input) }} where {{ in_window(at) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),
actual as (
    select source, source_id from {{ model }} where {{ in_window(at) }}
),
missing as (
    select source, source_id from expected except select source, source_id from actual
),
extra as (
    select source, source_id from actual except select source, source_id from expected
)
select 'missing' as problem, source, source_id from missing
union all
select 'extra' as problem, source, source_id from extra
{% endtest %}
