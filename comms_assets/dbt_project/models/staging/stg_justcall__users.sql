select
    cast(id as {{ dbt.type_string() }}) as user_id,
    {{ email('email') }} as email,
    name
from {{ source('justcall', 'users') }}
