{#- Customers: contact matching as _marts.yml describes it. A pair is kept when each contact is the
    other's first candidate (the strongest match, then the other's lowest id), so the same input
    always gives the same pairs; every unmatched contact is a customer of its own. -#}
with justcall as (select * from {{ ref('stg_justcall__contacts') }}),
lacrm as (select * from {{ ref('stg_lacrm__contacts') }}),
points as (select * from {{ ref('stg_lacrm__contact_points') }}),
pairs as (
    select
        justcall.contact_id as justcall_contact_id,
        points.contact_id as lacrm_contact_id,
        max(case when points.kind = 'phone' then 2 else 0 end) + max(case when points.kind = 'email' then 1 else 0 end)
            as strength  -- 3: phone and email, 2: phone, 1: email
    from justcall
    join points on (points.kind = 'phone' and points.value = justcall.phone)
        or (points.kind = 'email' and points.value = justcall.email)
    group by justcall.contact_id, points.contact_id
),
ranked as (
    select *,
        row_number() over (partition by justcall_contact_id order by strength desc, lacrm_contact_id) as justcall_rank,
        row_number() over (partition by lacrm_contact_id order by strength desc, justcall_contact_id) as lacrm_rank
    from pairs
),
matched as (
    select
        justcall_contact_id,
        lacrm_contact_id,
        case strength when 3 then 'phone and email' when 2 then 'phone' else 'email' end as matched_on
    from ranked
    where justcall_rank = 1 and lacrm_rank = 1
)
select
    coalesce('justcall:' || justcall.contact_id, 'lacrm:' || lacrm.contact_id) as contact_key,
    coalesce(nullif(justcall.name, ''), lacrm.name) as name,
    coalesce(justcall.phone, lacrm.phone) as phone,
    coalesce(justcall.email, lacrm.email) as email,
    justcall.contact_id as justcall_contact_id,
    lacrm.contact_id as lacrm_contact_id,
    matched.matched_on
from matched
full outer join justcall on justcall.contact_id = matched.justcall_contact_id
full outer join lacrm on lacrm.contact_id = matched.lacrm_contact_id
