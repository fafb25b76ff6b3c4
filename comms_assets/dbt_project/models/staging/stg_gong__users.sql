select
    id as user_id,
    {{ email('email_address') }} as email,
    trim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) as name
from {{ source('gong', 'users') }}
