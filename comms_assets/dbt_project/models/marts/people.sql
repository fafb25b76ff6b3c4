with accounts as (
    select 'justcall' as system, user_id, email, name from {{ ref('stg_justcall__users') }}
    union all
    select 'gong', user_id, email, name from {{ ref('stg_gong__users') }}
    union all
    select 'lacrm', user_id, email, name from {{ ref('stg_lacrm__users') }}
)
select
    email,
    coalesce(max(case when system = 'justcall' then name end), max(case when system = 'gong' then name end),
             max(case when system = 'lacrm' then name end)) as name,
    max(case when system = 'justcall' then user_id end) as justcall_user_id,
    max(case when system = 'gong' then user_id end) as gong_user_id,
    max(case when system = 'lacrm' then user_id end) as lacrm_user_id,
    count(distinct system) as systems
from accounts
where email is not null
group by email
