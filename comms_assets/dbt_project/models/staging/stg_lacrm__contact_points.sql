{#- Every phone number (E.164) and email (lower-cased) of each LACRM person, in LACRM's order:
    what contact matching compares a JustCall contact with. -#}
with points as (
    select _dlt_parent_id, 'phone' as kind, {{ e164('text') }} as value, _dlt_list_idx as position
    from {{ nested('lacrm', 'contacts', 'phone') }}
    union all
    select _dlt_parent_id, 'email', {{ email('text') }}, _dlt_list_idx
    from {{ nested('lacrm', 'contacts', 'email') }}
)
select
    contacts.contact_id,
    points.kind,
    points.value,
    points.position
from points
join {{ source('lacrm', 'contacts') }} as contacts on contacts._dlt_id = points._dlt_parent_id
where not contacts.is_company and points.value is not null
