{% macro nested(source_name, table, field) -%}
{#- The child table dlt loads a nested list of a source table into (``<table>__<field>``, joined
    on ``_dlt_parent_id``), read as part of that source, whose asset loads it. -#}
{{ source(source_name, table).incorporate(path={"identifier": table ~ "__" ~ field}) }}
{%- endmacro %}
