{% macro in_window(column) -%}
{#- The run's daily partitions, [min_date, max_date) in UTC: vars, or COMMS_DBT_MIN_DATE/COMMS_DBT_MAX_DATE
    (Dagster's runs: a var would make dbt parse the whole project again); every day when unset. -#}
{%- set min_date = var('min_date', none) or env_var('COMMS_DBT_MIN_DATE', '') -%}
{%- set max_date = var('max_date', none) or env_var('COMMS_DBT_MAX_DATE', '') -%}
{%- if min_date -%}
{{ column }} >= cast('{{ min_date }}' as timestamp) and {{ column }} < cast('{{ max_date }}' as timestamp)
{%- else -%}
1 = 1
{%- endif -%}
{%- endmacro %}
