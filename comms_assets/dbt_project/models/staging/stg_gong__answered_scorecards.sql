select
    answered_scorecard_id as answered_scorecard_id,
    call_id,
    {{ utc('call_start_time') }} as call_started_at,
    reviewed_user_id
from {{ source('gong', 'answered_scorecards') }}
