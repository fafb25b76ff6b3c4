select
    task_id,
    cast(due_date as timestamp) as due_at,
    assigned_to as user_id
from {{ source('lacrm', 'tasks') }}
