{#- One row per contact, with its first phone number and first email (LACRM keeps lists). -#}
with phones as (
    select _dlt_parent_id, {{ e164('text') }} as phone,
        row_number() over (partition by _dlt_parent_id order by _dlt_list_idx) as position
    from {{ nested('lacrm', 'contacts', 'phone') }}
),
emails as (
    select _dlt_parent_id, {{ email('text') }} as email,
        row_number() over (partition by _dlt_parent_id order by _dlt_list_idx) as position
    from {{ nested('lacrm', 'contacts', 'email') }}
)
select
    contacts.contact_id,
    trim(coalesce(contacts.name__first_name, '') || ' ' || coalesce(contacts.name__last_name, '')) as name,
    phones.phone,
    emails.email
from {{ source('lacrm', 'contacts') }} as contacts
left join phones on phones._dlt_parent_id = contacts._dlt_id and phones.position = 1
left join emails on emails._dlt_parent_id = contacts._dlt_id and emails.position = 1
where not contacts.is_company
