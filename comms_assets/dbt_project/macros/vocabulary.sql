{#- The one vocabulary of the staging models, the same on DuckDB and PostgreSQL. -#}

{% macro e164(number) -%}
{#- A phone number as E.164: its digits after a +, with +1 for ten-digit North American numbers
    (LACRM stores numbers as people type them: "(415) 555-0134", "+1 415-555-0134"). -#}
case
    when length(regexp_replace({{ number }}, '[^0-9]', '', 'g')) = 0 then null
    when length(regexp_replace({{ number }}, '[^0-9]', '', 'g')) = 10
        then '+1' || regexp_replace({{ number }}, '[^0-9]', '', 'g')
    else '+' || regexp_replace({{ number }}, '[^0-9]', '', 'g')
end
{%- endmacro %}

{% macro email(address) -%}
nullif(lower(trim({{ address }})), '')
{%- endmacro %}

{% macro utc(instant) -%}
{#- A timestamp with time zone as the UTC wall clock (a timestamp without zone). -#}
cast({{ instant }} at time zone 'UTC' as timestamp)
{%- endmacro %}

{% macro direction(value, inbound, outbound) -%}
{#- The source's words for a direction as inbound/outbound; any other word passes through
    lower-cased, so the accepted_values test names it. -#}
case
    when lower({{ value }}) in ({{ "'" ~ inbound | join("', '") ~ "'" }}) then 'inbound'
    when lower({{ value }}) in ({{ "'" ~ outbound | join("', '") ~ "'" }}) then 'outbound'
    else lower({{ value }})
end
{%- endmacro %}

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

{% macro nested(source_name, table, field) -%}
{#- The child table dlt loads a nested list of a source table into (``<table>__<field>``, joined
    on ``_dlt_parent_id``), read as part of that source, whose asset loads it. -#}
{{ source(source_name, table).incorporate(path={"identifier": table ~ "__" ~ field}) }}
{%- endmacro %}

{% macro identity(relation, key, at) -%}
{#- A mart row's identity: its key (<source>:<source id>), source, source id, instant and UTC day. -#}
{{ relation }}.source || ':' || {{ relation }}.source_id as {{ key }},
    {{ relation }}.source,
    {{ relation }}.source_id,
    {{ relation }}.{{ at }},
    cast({{ relation }}.{{ at }} as date) as day
{%- endmacro %}
