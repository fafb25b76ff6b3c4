{#- A JustCall and a LACRM contact are one customer when their E.164 numbers or their emails are
    equal; each contact is matched at most once (phone and email before phone, phone before email,
    then the lowest id), and every unmatched contact is a customer of its own. -#}
with justcall as (select * from {{ ref('stg_justcall__contacts') }}),
lacrm as (select * from {{ ref('stg_lacrm__contacts') }}),
pairs as (
    select
        justcall.contact_id as justcall_contact_id,
        lacrm.contact_id as lacrm_contact_id,
        case
            when justcall.phone = lacrm.phone and justcall.email = lacrm.email then 'phone and email'
            when justcall.phone = lacrm.phone then 'phone'
            else 'email'
        end as matched_on
    from justcall
    join lacrm on justcall.phone = lacrm.phone or justcall.email = lacrm.email
),
ranked as (
    select *,
        row_number() over (partition by justcall_contact_id
                           order by matched_on desc, lacrm_contact_id) as justcall_rank,
        row_number() over (partition by lacrm_contact_id
                           order by matched_on desc, justcall_contact_id) as lacrm_rank
    from pairs
),
matched as (
    select justcall_contact_id, lacrm_contact_id, matched_on from ranked where justcall_rank = 1 and lacrm_rank = 1
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
