{% macro identity(relation, key, at) -%}
{#- A mart row's identity: its key (<source>:<source id>), source, source id, instant and UTC day. -#}
{{ relation }}.source || ':' || {{ relation }}.source_id as {{ key }},
    {{ relation }}.source,
    {{ relation }}.source_id,
    {{ relation }}.{{ at }},
    cast({{ relation }}.{{ at }} as date) as day
{%- endmacro %}
