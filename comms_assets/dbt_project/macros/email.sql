{% macro email(address) -%}
{#- An email address lower-cased and trimmed; a blank one is null. -#}
nullif(lower(trim({{ address }})), '')
{%- endmacro %}
