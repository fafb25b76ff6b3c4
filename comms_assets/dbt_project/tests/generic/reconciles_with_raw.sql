{% test reconciles_with_raw(model, at, raw) %}
{#- Per source and UTC day of the run's days, the model holds exactly the distinct keys of the raw
    tables (``raw``: each its source, table, key and instant ``at``): a row lost or doubled
    anywhere between them is named, as 'missing', 'extra' or 'doubled'. -#}
with expected as (
    {% for input in raw %}
    select distinct '{{ input.source }}' as source, cast({{ input.key }} as {{ dbt.type_string() }}) as source_id,
        cast({{ input.at }} as date) as day
    from {{ source(input.source, input.table) }}
    where {{ in_window(input.at) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),
actual as (
    select source, source_id, cast({{ at }} as date) as day from {{ model }} where {{ in_window(at) }}
),
doubled as (
    select source, source_id, day from actual group by source, source_id, day having count(*) > 1
)
select 'missing' as problem, * from (select * from expected except select * from actual) as missing
union all
select 'extra', * from (select * from actual except select * from expected) as extra
union all
select 'doubled', * from doubled
{% endtest %}
