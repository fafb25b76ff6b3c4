{% macro direction(value, inbound, outbound) -%}
{#- The source's words for a direction as inbound/outbound; any other word passes through
    lower-cased, so the accepted_values test names it. -#}
case
    when lower({{ value }}) in ({{ "'" ~ inbound | join("', '") ~ "'" }}) then 'inbound'
    when lower({{ value }}) in ({{ "'" ~ outbound | join("', '") ~ "'" }}) then 'outbound'
    else lower({{ value }})
end
{%- endmacro %}
