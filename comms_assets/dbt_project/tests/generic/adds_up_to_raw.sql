{% test adds_up_to_raw(model, counter, raw) %}
{#- Per UTC day of the run's days, the model's ``counter`` adds up to the raw table's rows that
    count (``raw``: source, table, instant ``at``, ``where``): the days where it does not, with both. -#}
with expected as (
    select cast({{ raw.at }} as date) as day, count(*) as counted
    from {{ source(raw.source, raw.table) }}
    where {{ raw.where }} and {{ in_window(raw.at) }}
    group by 1
),
actual as (
    select day, sum({{ counter }}) as counted from {{ model }} where {{ in_window('day') }} group by day
)
select coalesce(expected.day, actual.day) as day, expected.counted as raw_rows, actual.counted as model_sum
from expected
full outer join actual on actual.day = expected.day
where coalesce(expected.counted, 0) <> coalesce(actual.counted, 0)
{% endtest %}
