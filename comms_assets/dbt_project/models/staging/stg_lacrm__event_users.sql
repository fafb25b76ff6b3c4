{#- One row per event and user it is on the calendar of. -#}
select
    events.event_id,
    {{ utc('events.start_date') }} as started_at,
    users.value as user_id
from {{ source('lacrm', 'events') }} as events
join {{ nested('lacrm', 'events', 'user_ids') }} as users on users._dlt_parent_id = events._dlt_id
