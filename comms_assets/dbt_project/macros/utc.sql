{% macro utc(instant) -%}
{#- A timestamp with time zone as the UTC wall clock (a timestamp without zone). -#}
cast({{ instant }} at time zone 'UTC' as timestamp)
{%- endmacro %}
