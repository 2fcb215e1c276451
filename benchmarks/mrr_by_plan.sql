-- Monthly MRR bridge by plan, written by hand in DuckDB SQL from the rules in
-- docs/metrics.md, as the baseline that bench_mrr.py times the engine against.
--
-- Parameters: $as_of (report day: changes after it are left out) and
-- $currency (reporting currency). Defaults only: grace_days 0, no
-- delinquency_days, refunded lines counted.
-- NOTE: rates come from fx_rates stored against $currency as their base, and a
-- line in another currency without such a rate gets a NULL MRR. The engine
-- also falls back to the ECB reference rates, which this query does not.
--
-- Output: one row per month and plan with activity, amounts in integer cents
-- of $currency, churn and contraction positive, the columns of `revaxis mrr`.
WITH
-- One row per recurring invoice line that counts, with its service period
-- [service_period_start, service_period_end), net amount and the ended_at of
-- its subscription.
counted AS (
    SELECT
        l.customer_id,
        l.currency,
        COALESCE(l.plan_id, sub.plan_id) AS plan_id,
        l.service_period_start AS period_start,
        l.service_period_end AS period_end,
        sub.ended_at,
        CASE
            WHEN l.amount >= 0 THEN greatest(l.amount - l.discount, 0)
            ELSE l.amount - l.discount
        END AS net
    FROM invoice_lines AS l
    LEFT JOIN subscriptions AS sub USING (subscription_id)
    WHERE l.kind IN ('subscription', 'usage')
        AND l.status <> 'void'
        AND l.service_period_end > l.service_period_start
),

-- Same grain: the service period's length in months. Whole calendar months
-- when the end falls on the start's day of the month (clamped to the last day
-- of a shorter month), else days / (365.25 / 12). A start on the last day of
-- its month may be a clamped billing day, so there any end day from the
-- start's day on counts as the same day.
sized AS (
    SELECT
        *,
        CASE
            WHEN (
                    day(period_end)
                        = least(day(period_start), day(last_day(period_end)))
                    OR (day(period_start) = day(last_day(period_start))
                        AND day(period_end) >= day(period_start))
                )
                AND (year(period_end) - year(period_start)) * 12
                    + month(period_end) - month(period_start) > 0
                THEN ((year(period_end) - year(period_start)) * 12
                    + month(period_end) - month(period_start))::DOUBLE
            ELSE date_diff('day', period_start, period_end) / 30.4375
        END AS months
    FROM counted
),

-- Same grain: units of the line's currency per one unit of $currency on the
-- service-period start day, or on the last day with a rate at most 7 days
-- before it.
rated AS (
    SELECT
        s.*,
        CASE
            WHEN s.currency = $currency THEN 1.0
            WHEN s.period_start - r.date <= 7 THEN r.rate
        END AS rate
    FROM sized AS s
    ASOF LEFT JOIN (
        SELECT date, currency, rate FROM fx_rates WHERE base = $currency
    ) AS r
        ON s.currency = r.currency AND s.period_start >= r.date
),

-- Same grain: plan name (or plan id without a name, or "(none)"), effective
-- period [start_day, end_day) cut at ended_at, MRR in cents of $currency and
-- in millionths of the line's currency, each rounded half away from zero.
line_mrr AS (
    SELECT
        r.customer_id,
        COALESCE(
            NULLIF(regexp_replace(p.name, '^\s+|\s+$', '', 'g'), ''),
            NULLIF(regexp_replace(r.plan_id, '^\s+|\s+$', '', 'g'), ''),
            '(none)'
        ) AS plan,
        r.currency,
        r.period_start AS start_day,
        CASE
            WHEN r.ended_at < r.period_end THEN r.ended_at
            ELSE r.period_end
        END AS end_day,
        CAST(round(r.net / r.months / r.rate * 100) AS BIGINT) AS mrr_cents,
        CAST(round(r.net / r.months * 1000000) AS BIGINT) AS mrr_micros
    FROM rated AS r
    LEFT JOIN plans AS p USING (plan_id)
),

-- One row per customer, plan, currency and day up to $as_of on which MRR
-- changes: the net change (d_), the MRR of the lines that end that day (end_)
-- and that of the positive lines that start that day (new_), each in cents
-- and in micros. fx takes the old amount from end_ and the new rate from new_.
events AS (
    SELECT
        customer_id,
        plan,
        currency,
        day,
        sum(d_cents) AS d_cents,
        sum(d_micros) AS d_micros,
        sum(end_cents) AS end_cents,
        sum(end_micros) AS end_micros,
        sum(new_cents) AS new_cents,
        sum(new_micros) AS new_micros
    FROM (
        SELECT
            customer_id, plan, currency, start_day AS day,
            mrr_cents AS d_cents, mrr_micros AS d_micros,
            0 AS end_cents, 0 AS end_micros,
            CASE WHEN mrr_micros > 0 THEN mrr_cents ELSE 0 END AS new_cents,
            CASE WHEN mrr_micros > 0 THEN mrr_micros ELSE 0 END AS new_micros
        FROM line_mrr
        WHERE end_day > start_day
        UNION ALL
        SELECT
            customer_id, plan, currency, end_day AS day,
            -mrr_cents AS d_cents, -mrr_micros AS d_micros,
            mrr_cents AS end_cents, mrr_micros AS end_micros,
            0 AS new_cents, 0 AS new_micros
        FROM line_mrr
        WHERE end_day > start_day
    )
    WHERE day <= $as_of
    GROUP BY customer_id, plan, currency, day
    HAVING sum(d_cents) <> 0 OR sum(d_micros) <> 0
),

-- One row per customer and change day: the sum of their lines after the day's
-- changes (raw1) and the day's net change.
customer_running AS (
    SELECT
        customer_id,
        day,
        d_cents,
        sum(d_cents) OVER (
            PARTITION BY customer_id ORDER BY day ROWS UNBOUNDED PRECEDING
        ) AS raw1
    FROM (
        SELECT customer_id, day, sum(d_cents) AS d_cents
        FROM events
        GROUP BY customer_id, day
    )
),

-- Same grain: MRR before (m0) and after (m1), floored at zero, and the type of
-- the change. A customer "paid before" when any earlier change day ended with
-- a positive sum.
states AS (
    SELECT
        customer_id,
        day,
        m0,
        m1,
        CASE
            WHEN m0 = 0 AND m1 > 0 AND NOT paid_before THEN 'new'
            WHEN m0 = 0 AND m1 > 0 THEN 'reactivation'
            WHEN m0 > 0 AND m1 = 0 THEN 'churn'
            WHEN m0 > 0 AND m1 > 0 THEN 'change'
            ELSE 'none'
        END AS kind
    FROM (
        SELECT
            customer_id,
            day,
            greatest(raw1 - d_cents, 0) AS m0,
            greatest(raw1, 0) AS m1,
            COALESCE(
                bool_or(raw1 > 0) OVER (
                    PARTITION BY customer_id ORDER BY day
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
                ),
                false
            ) AS paid_before
        FROM customer_running
    )
),

-- One row per customer, currency and change day of that currency, with the
-- fx movement. It is the MRR of the lines that end that day (end_micros)
-- revalued at the rate of the positive lines that start that day (new_cents /
-- new_micros), minus its old value end_cents. It is zero unless the customer
-- pays before and after and lines both end and start in the currency, and
-- always zero in $currency, whose rate is 1.
currency_fx AS (
    SELECT
        c.customer_id,
        c.currency,
        c.day,
        CASE
            WHEN st.kind = 'change'
                AND c.currency <> $currency
                AND c.new_micros > 0
                AND c.end_micros <> 0
                THEN CAST(
                    round(c.end_micros::DOUBLE * c.new_cents / c.new_micros) AS BIGINT
                ) - c.end_cents
            ELSE 0
        END AS fx
    FROM (
        SELECT
            customer_id,
            currency,
            day,
            sum(end_cents) AS end_cents,
            sum(end_micros) AS end_micros,
            sum(new_cents) AS new_cents,
            sum(new_micros) AS new_micros
        FROM events
        GROUP BY customer_id, currency, day
    ) AS c
    JOIN states AS st USING (customer_id, day)
),

-- One row per customer, plan, currency and day with a non-zero fx in the
-- currency: the plan's weight in the fx share, the MRR in micros of its lines
-- in the currency that end that day (micros, because a line worth less than a
-- cent still ends).
fx_weights AS (
    SELECT
        *,
        sum(weight) OVER (PARTITION BY customer_id, currency, day) AS weight_sum
    FROM (
        SELECT
            e.customer_id,
            e.plan,
            e.currency,
            e.day,
            f.fx,
            abs(e.end_micros)::DOUBLE AS weight
        FROM events AS e
        JOIN currency_fx AS f USING (customer_id, currency, day)
        WHERE f.fx <> 0
    )
),

-- One row per customer, plan and day with an fx share. Shares are rounded so
-- that they add up to the currency's fx: plan by plan in ascending name order,
-- each takes round(fx x cumulative weight / weight sum) less the plans before.
segment_fx AS (
    SELECT customer_id, plan, day, sum(share) AS fx
    FROM (
        SELECT
            customer_id,
            plan,
            day,
            CAST(round(fx * (cum / weight_sum)) AS BIGINT)
                - CAST(round(fx * ((cum - weight) / weight_sum)) AS BIGINT) AS share
        FROM (
            SELECT
                *,
                sum(weight) OVER (
                    PARTITION BY customer_id, currency, day
                    ORDER BY plan ROWS UNBOUNDED PRECEDING
                ) AS cum
            FROM fx_weights
        )
    )
    GROUP BY customer_id, plan, day
),

-- One row per customer, plan and change day of the plan: the plan's value
-- before (raw_v0) and after (raw_v1) the day's changes, all currencies, and
-- the day of the plan's next change (next_day, NULL for the last).
plan_changes AS (
    SELECT
        *,
        raw_v1 - d_cents AS raw_v0,
        lead(day) OVER (PARTITION BY customer_id, plan ORDER BY day) AS next_day
    FROM (
        SELECT
            *,
            sum(d_cents) OVER (
                PARTITION BY customer_id, plan ORDER BY day ROWS UNBOUNDED PRECEDING
            ) AS raw_v1
        FROM (
            SELECT customer_id, plan, day, sum(d_cents) AS d_cents
            FROM events
            GROUP BY customer_id, plan, day
        )
    )
),

-- One row per customer, plan and day on which the plan changes, or on which
-- the customer starts or stops paying while the plan keeps a non-zero value
-- [day, next_day). The second kind has raw_v0 = raw_v1, so that the floor at
-- zero applies to every plan of the customer on those days.
segment_values AS (
    SELECT customer_id, plan, day, raw_v0, raw_v1
    FROM plan_changes
    UNION ALL
    SELECT pc.customer_id, pc.plan, st.day, pc.raw_v1 AS raw_v0, pc.raw_v1
    FROM plan_changes AS pc
    JOIN states AS st
        ON st.customer_id = pc.customer_id
        AND st.kind IN ('new', 'reactivation', 'churn')
        AND pc.day < st.day
        AND (pc.next_day IS NULL OR pc.next_day > st.day)
    WHERE pc.raw_v1 <> 0
),

-- Same grain: the values v0 and v1, zero while the customer is not paying,
-- the plan's fx share and the rest of its change (rest), split into an
-- increase (up) or a decrease (down).
segment_rest AS (
    SELECT
        *,
        greatest(rest, 0) AS up,
        greatest(-rest, 0) AS down
    FROM (
        SELECT *, v1 - v0 - fx AS rest
        FROM (
            SELECT
                s.customer_id,
                s.plan,
                s.day,
                st.kind,
                CASE WHEN st.m0 > 0 THEN s.raw_v0 ELSE 0 END AS v0,
                CASE WHEN st.m1 > 0 THEN s.raw_v1 ELSE 0 END AS v1,
                COALESCE(f.fx, 0) AS fx
            FROM segment_values AS s
            JOIN states AS st USING (customer_id, day)
            LEFT JOIN segment_fx AS f USING (customer_id, plan, day)
        )
    )
),

-- Same grain: the movements. When the customer keeps paying, S = min(sum of
-- increases, sum of decreases) moves between plans. Each increase is
-- transfer_in for its share of S and expansion for the rest. Each decrease is
-- transfer_out for its share and contraction for the rest. Shares are rounded
-- cumulatively in ascending plan name order so that they add up to S.
movements AS (
    SELECT
        customer_id,
        plan,
        day,
        kind,
        v0,
        v1,
        CASE WHEN kind = 'new' THEN rest ELSE 0 END AS new,
        CASE WHEN kind = 'reactivation' THEN rest ELSE 0 END AS reactivation,
        CASE WHEN kind = 'churn' THEN -rest ELSE 0 END AS churn,
        CASE WHEN kind = 'change' THEN up - transfer_in ELSE 0 END AS expansion,
        CASE WHEN kind = 'change' THEN down - transfer_out ELSE 0 END AS contraction,
        transfer_in,
        transfer_out,
        fx,
        CASE
            WHEN v0 <= 0 AND v1 > 0 THEN 1
            WHEN v0 > 0 AND v1 <= 0 THEN -1
            ELSE 0
        END AS count_change
    FROM (
        SELECT
            *,
            CASE
                WHEN kind = 'change' AND up > 0
                    THEN CAST(round(moved * (cum_up / p_sum)) AS BIGINT)
                        - CAST(round(moved * ((cum_up - up) / p_sum)) AS BIGINT)
                ELSE 0
            END AS transfer_in,
            CASE
                WHEN kind = 'change' AND down > 0
                    THEN CAST(round(moved * (cum_down / n_sum)) AS BIGINT)
                        - CAST(round(moved * ((cum_down - down) / n_sum)) AS BIGINT)
                ELSE 0
            END AS transfer_out
        FROM (
            SELECT
                *,
                least(sum(up) OVER g, sum(down) OVER g) AS moved,
                sum(up) OVER g AS p_sum,
                sum(down) OVER g AS n_sum,
                sum(up) OVER ordered AS cum_up,
                sum(down) OVER ordered AS cum_down
            FROM segment_rest
            WINDOW
                g AS (PARTITION BY customer_id, day),
                ordered AS (
                    PARTITION BY customer_id, day ORDER BY plan
                    ROWS UNBOUNDED PRECEDING
                )
        )
    )
),

-- One row per plan and month with a movement: the sums and the customer counts
-- of the movements.
monthly AS (
    SELECT
        plan,
        date_trunc('month', day)::DATE AS period,
        sum(new) AS new,
        sum(expansion) AS expansion,
        sum(contraction) AS contraction,
        sum(churn) AS churn,
        sum(reactivation) AS reactivation,
        sum(transfer_in) AS transfer_in,
        sum(transfer_out) AS transfer_out,
        sum(fx) AS fx,
        sum(count_change) AS count_change,
        count(DISTINCT customer_id) FILTER (
            WHERE kind = 'new' AND new <> 0
        ) AS new_customers,
        count(DISTINCT customer_id) FILTER (
            WHERE kind = 'reactivation' AND reactivation <> 0
        ) AS reactivated_customers
    FROM movements
    GROUP BY ALL
),

-- One row per plan and month: customers paying at the month's start and not
-- at its end, counted in the plans they left on their last change day of the
-- month.
churned AS (
    SELECT mv.plan, c.period, count(DISTINCT mv.customer_id) AS churned_customers
    FROM (
        SELECT
            customer_id,
            date_trunc('month', day)::DATE AS period,
            arg_min(m0, day) AS first_m0,
            arg_max(m1, day) AS last_m1,
            max(day) AS last_day
        FROM states
        GROUP BY ALL
    ) AS c
    JOIN movements AS mv
        ON mv.customer_id = c.customer_id AND mv.day = c.last_day
    WHERE c.first_m0 > 0 AND c.last_m1 = 0 AND mv.v0 > 0
    GROUP BY ALL
),

-- The report's last day: $as_of while any customer pays at its end, else the
-- latest invoice date or MRR change day, at most $as_of.
last_day AS (
    SELECT
        CASE
            WHEN (
                SELECT count(*) FROM (
                    SELECT arg_max(m1, day) AS last_m1
                    FROM states
                    GROUP BY customer_id
                )
                WHERE last_m1 > 0
            ) > 0
                THEN $as_of::DATE
            ELSE least(
                greatest(
                    (SELECT max(invoice_date) FROM invoice_lines),
                    (SELECT max(day) FROM states)
                ),
                $as_of::DATE
            )
        END AS day
),

-- Every plan with a movement x every month from the first month with a
-- movement to the month of the report's last day.
grid AS (
    SELECT plans.plan, months.period
    FROM (SELECT DISTINCT plan FROM movements) AS plans
    CROSS JOIN (
        SELECT unnest(generate_series(
            (SELECT date_trunc('month', min(day)) FROM movements),
            (SELECT date_trunc('month', day) FROM last_day),
            INTERVAL 1 MONTH
        ))::DATE AS period
    ) AS months
),

-- One row per plan and month: the bridge, with MRR and customer counts at the
-- start and end of the month from the running sums of the movements.
bridge AS (
    SELECT
        *,
        mrr_end - net AS mrr_start,
        customers_end - count_change AS customers_start
    FROM (
        SELECT
            *,
            sum(net) OVER running AS mrr_end,
            sum(count_change) OVER running AS customers_end
        FROM (
            SELECT
                g.plan,
                g.period,
                COALESCE(m.new, 0) AS new,
                COALESCE(m.expansion, 0) AS expansion,
                COALESCE(m.contraction, 0) AS contraction,
                COALESCE(m.churn, 0) AS churn,
                COALESCE(m.reactivation, 0) AS reactivation,
                COALESCE(m.transfer_in, 0) AS transfer_in,
                COALESCE(m.transfer_out, 0) AS transfer_out,
                COALESCE(m.fx, 0) AS fx,
                COALESCE(m.new + m.reactivation + m.expansion - m.contraction
                    - m.churn + m.transfer_in - m.transfer_out + m.fx, 0) AS net,
                COALESCE(m.count_change, 0) AS count_change,
                COALESCE(m.new_customers, 0) AS new_customers,
                COALESCE(c.churned_customers, 0) AS churned_customers,
                COALESCE(m.reactivated_customers, 0) AS reactivated_customers
            FROM grid AS g
            LEFT JOIN monthly AS m USING (plan, period)
            LEFT JOIN churned AS c USING (plan, period)
        )
        WINDOW running AS (
            PARTITION BY plan ORDER BY period ROWS UNBOUNDED PRECEDING
        )
    )
)

SELECT
    strftime(period, '%Y-%m') AS period,
    plan,
    mrr_start,
    new,
    expansion,
    contraction,
    churn,
    reactivation,
    transfer_in,
    transfer_out,
    fx,
    mrr_end,
    customers_start,
    customers_end,
    new_customers,
    churned_customers,
    reactivated_customers
FROM bridge
WHERE period >= (
        SELECT date_trunc('month', min(day)) FROM states WHERE m1 > 0
    )
    AND (mrr_start <> 0 OR mrr_end <> 0 OR new <> 0 OR expansion <> 0
        OR contraction <> 0 OR churn <> 0 OR reactivation <> 0
        OR transfer_in <> 0 OR transfer_out <> 0 OR fx <> 0
        OR customers_start <> 0 OR customers_end <> 0 OR new_customers <> 0
        OR churned_customers <> 0 OR reactivated_customers <> 0)
ORDER BY period, plan
