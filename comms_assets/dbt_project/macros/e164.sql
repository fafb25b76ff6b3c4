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
