select
    user_id,
    {{ email('email') }} as email,
    trim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) as name
from {{ source('lacrm', 'users') }}
