select
    cast(id as {{ dbt.type_string() }}) as contact_id,
    trim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) as name,
    {{ e164('contact_number') }} as phone,
    {{ email('email') }} as email
from {{ source('justcall', 'contacts') }}
