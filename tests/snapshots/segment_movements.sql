SELECT
  "t37"."customer_id",
  "t37"."ax_plan",
  "t37"."day",
  "t37"."kind",
  CASE WHEN "t37"."kind" = 'new' THEN "t37"."rest" ELSE 0 END AS "new",
  CASE
    WHEN "t37"."kind" = 'change'
    THEN "t37"."up" - CASE
      WHEN (
        "t37"."kind" = 'change'
      ) AND (
        "t37"."up" > 0
      )
      THEN CAST(ROUND("t37"."moved" * (
        "t37"."cum_up" / "t37"."p_sum"
      ), 0) AS BIGINT) - CAST(ROUND("t37"."moved" * (
        (
          "t37"."cum_up" - "t37"."up"
        ) / "t37"."p_sum"
      ), 0) AS BIGINT)
      ELSE 0
    END
    ELSE 0
  END AS "expansion",
  CASE
    WHEN "t37"."kind" = 'change'
    THEN "t37"."down" - CASE
      WHEN (
        "t37"."kind" = 'change'
      ) AND (
        "t37"."down" > 0
      )
      THEN CAST(ROUND("t37"."moved" * (
        "t37"."cum_down" / "t37"."n_sum"
      ), 0) AS BIGINT) - CAST(ROUND("t37"."moved" * (
        (
          "t37"."cum_down" - "t37"."down"
        ) / "t37"."n_sum"
      ), 0) AS BIGINT)
      ELSE 0
    END
    ELSE 0
  END AS "contraction",
  CASE WHEN "t37"."kind" = 'churn' THEN -(
    "t37"."rest"
  ) ELSE 0 END AS "churn",
  CASE WHEN "t37"."kind" = 'reactivation' THEN "t37"."rest" ELSE 0 END AS "reactivation",
  CASE
    WHEN (
      "t37"."kind" = 'change'
    ) AND (
      "t37"."up" > 0
    )
    THEN CAST(ROUND("t37"."moved" * (
      "t37"."cum_up" / "t37"."p_sum"
    ), 0) AS BIGINT) - CAST(ROUND("t37"."moved" * (
      (
        "t37"."cum_up" - "t37"."up"
      ) / "t37"."p_sum"
    ), 0) AS BIGINT)
    ELSE 0
  END AS "transfer_in",
  CASE
    WHEN (
      "t37"."kind" = 'change'
    ) AND (
      "t37"."down" > 0
    )
    THEN CAST(ROUND("t37"."moved" * (
      "t37"."cum_down" / "t37"."n_sum"
    ), 0) AS BIGINT) - CAST(ROUND("t37"."moved" * (
      (
        "t37"."cum_down" - "t37"."down"
      ) / "t37"."n_sum"
    ), 0) AS BIGINT)
    ELSE 0
  END AS "transfer_out",
  "t37"."fx_cents" AS "fx",
  CASE
    WHEN (
      "t37"."v0" <= 0
    ) AND (
      "t37"."v1" > 0
    )
    THEN 1
    WHEN (
      "t37"."v0" > 0
    ) AND (
      "t37"."v1" <= 0
    )
    THEN -1
    ELSE 0
  END AS "count_change",
  "t37"."v0" AS "v0_cents",
  "t37"."v1" AS "v1_cents"
FROM (
  SELECT
    "t36"."customer_id",
    "t36"."ax_plan",
    "t36"."day",
    "t36"."v1_cents",
    "t36"."v0_cents",
    "t36"."fx_cents",
    "t36"."m0_cents",
    "t36"."m1_cents",
    "t36"."kind",
    "t36"."v0",
    "t36"."v1",
    "t36"."rest",
    "t36"."up",
    "t36"."down",
    "t36"."p_sum",
    "t36"."n_sum",
    LEAST("t36"."p_sum", "t36"."n_sum") AS "moved",
    SUM("t36"."up") OVER (
      PARTITION BY "t36"."customer_id", "t36"."day"
      ORDER BY "t36"."ax_plan" ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS "cum_up",
    SUM("t36"."down") OVER (
      PARTITION BY "t36"."customer_id", "t36"."day"
      ORDER BY "t36"."ax_plan" ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS "cum_down"
  FROM (
    SELECT
      "t35"."customer_id",
      "t35"."ax_plan",
      "t35"."day",
      "t35"."v1_cents",
      "t35"."v0_cents",
      "t35"."fx_cents",
      "t35"."m0_cents",
      "t35"."m1_cents",
      "t35"."kind",
      "t35"."v0",
      "t35"."v1",
      "t35"."rest",
      "t35"."up",
      "t35"."down",
      SUM("t35"."up") OVER (
        PARTITION BY "t35"."customer_id", "t35"."day"
        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
      ) AS "p_sum",
      SUM("t35"."down") OVER (
        PARTITION BY "t35"."customer_id", "t35"."day"
        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
      ) AS "n_sum"
    FROM (
      SELECT
        "t34"."customer_id",
        "t34"."ax_plan",
        "t34"."day",
        "t34"."v1_cents",
        "t34"."v0_cents",
        "t34"."fx_cents",
        "t34"."m0_cents",
        "t34"."m1_cents",
        "t34"."kind",
        "t34"."v0",
        "t34"."v1",
        "t34"."rest",
        CASE WHEN "t34"."rest" > 0 THEN "t34"."rest" ELSE 0 END AS "up",
        CASE WHEN "t34"."rest" < 0 THEN -(
          "t34"."rest"
        ) ELSE 0 END AS "down"
      FROM (
        SELECT
          "t33"."customer_id",
          "t33"."ax_plan",
          "t33"."day",
          "t33"."v1_cents",
          "t33"."v0_cents",
          "t33"."fx_cents",
          "t33"."m0_cents",
          "t33"."m1_cents",
          "t33"."kind",
          CASE WHEN "t33"."m0_cents" > 0 THEN "t33"."v0_cents" ELSE 0 END AS "v0",
          CASE WHEN "t33"."m1_cents" > 0 THEN "t33"."v1_cents" ELSE 0 END AS "v1",
          (
            CASE WHEN "t33"."m1_cents" > 0 THEN "t33"."v1_cents" ELSE 0 END - CASE WHEN "t33"."m0_cents" > 0 THEN "t33"."v0_cents" ELSE 0 END
          ) - "t33"."fx_cents" AS "rest"
        FROM (
          SELECT
            "t32".*
            EXCLUDE ("st_day", "st_customer")
          FROM (
            SELECT
              "t31"."customer_id",
              "t31"."ax_plan",
              "t31"."day",
              "t31"."v1_cents",
              "t31"."v0_cents",
              "t31"."fx_cents",
              "t4"."st_customer",
              "t4"."st_day",
              "t4"."m0_cents",
              "t4"."m1_cents",
              "t4"."kind"
            FROM (
              SELECT
                "t29"."customer_id",
                "t29"."ax_plan",
                "t29"."day",
                "t29"."v1_cents",
                "t29"."v0_cents",
                COALESCE("t29"."fx_cents", 0) AS "fx_cents"
              FROM (
                SELECT
                  "t17"."customer_id",
                  "t17"."ax_plan",
                  "t17"."day",
                  "t17"."v1_cents",
                  "t17"."v0_cents",
                  "t28"."fx_customer_id",
                  "t28"."fx_ax_plan",
                  "t28"."fx_day",
                  "t28"."fx_cents"
                FROM (
                  SELECT
                    "t13".*
                    EXCLUDE ("d_cents")
                  FROM (
                    SELECT
                      "t9"."customer_id",
                      "t9"."ax_plan",
                      "t9"."day",
                      "t9"."d_cents",
                      "t9"."v1_cents",
                      "t9"."v1_cents" - "t9"."d_cents" AS "v0_cents"
                    FROM (
                      SELECT
                        "t6"."customer_id",
                        "t6"."ax_plan",
                        "t6"."day",
                        "t6"."d_cents",
                        SUM("t6"."d_cents") OVER (
                          PARTITION BY "t6"."customer_id", "t6"."ax_plan"
                          ORDER BY "t6"."day" ASC
                          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
                        ) AS "v1_cents"
                      FROM (
                        SELECT
                          "t1"."customer_id",
                          "t1"."ax_plan",
                          "t1"."day",
                          SUM("t1"."d_cents") AS "d_cents"
                        FROM "events" AS "t1"
                        GROUP BY
                          1,
                          2,
                          3
                      ) AS "t6"
                    ) AS "t9"
                  ) AS "t13"
                ) AS "t17"
                LEFT OUTER JOIN (
                  SELECT
                    "t26"."customer_id" AS "fx_customer_id",
                    "t26"."ax_plan" AS "fx_ax_plan",
                    "t26"."day" AS "fx_day",
                    "t26"."fx_cents"
                  FROM (
                    SELECT
                      "t25"."customer_id",
                      "t25"."ax_plan",
                      "t25"."day",
                      SUM("t25"."fx_cents") AS "fx_cents"
                    FROM (
                      SELECT
                        "t24"."customer_id",
                        "t24"."ax_plan",
                        "t24"."day",
                        CAST(ROUND("t24"."fx_cents" * (
                          "t24"."cum" / "t24"."weight_sum"
                        ), 0) AS BIGINT) - CAST(ROUND(
                          "t24"."fx_cents" * (
                            (
                              "t24"."cum" - "t24"."weight"
                            ) / "t24"."weight_sum"
                          ),
                          0
                        ) AS BIGINT) AS "fx_cents"
                      FROM (
                        SELECT
                          "t23"."customer_id",
                          "t23"."ax_plan",
                          "t23"."currency",
                          "t23"."day",
                          "t23"."d_cents",
                          "t23"."d_micros",
                          "t23"."v1",
                          "t23"."v0",
                          "t23"."fx_customer",
                          "t23"."fx_currency",
                          "t23"."fx_day",
                          "t23"."fx_cents",
                          "t23"."sum_v0",
                          "t23"."sum_v1",
                          "t23"."n",
                          "t23"."weight",
                          "t23"."weight_sum",
                          SUM("t23"."weight") OVER (
                            PARTITION BY "t23"."customer_id", "t23"."currency", "t23"."day"
                            ORDER BY "t23"."ax_plan" ASC
                            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
                          ) AS "cum"
                        FROM (
                          SELECT
                            "t22"."customer_id",
                            "t22"."ax_plan",
                            "t22"."currency",
                            "t22"."day",
                            "t22"."d_cents",
                            "t22"."d_micros",
                            "t22"."v1",
                            "t22"."v0",
                            "t22"."fx_customer",
                            "t22"."fx_currency",
                            "t22"."fx_day",
                            "t22"."fx_cents",
                            "t22"."sum_v0",
                            "t22"."sum_v1",
                            "t22"."n",
                            CASE
                              WHEN "t22"."sum_v0" > 0
                              THEN CAST(ABS("t22"."v0") AS DOUBLE)
                              WHEN "t22"."sum_v1" > 0
                              THEN CAST(ABS("t22"."v1") AS DOUBLE)
                              ELSE 1.0
                            END AS "weight",
                            CASE
                              WHEN "t22"."sum_v0" > 0
                              THEN CAST("t22"."sum_v0" AS DOUBLE)
                              WHEN "t22"."sum_v1" > 0
                              THEN CAST("t22"."sum_v1" AS DOUBLE)
                              ELSE CAST("t22"."n" AS DOUBLE)
                            END AS "weight_sum"
                          FROM (
                            SELECT
                              "t21"."customer_id",
                              "t21"."ax_plan",
                              "t21"."currency",
                              "t21"."day",
                              "t21"."d_cents",
                              "t21"."d_micros",
                              "t21"."v1",
                              "t21"."v0",
                              "t21"."fx_customer",
                              "t21"."fx_currency",
                              "t21"."fx_day",
                              "t21"."fx_cents",
                              SUM(ABS("t21"."v0")) OVER (
                                PARTITION BY "t21"."customer_id", "t21"."currency", "t21"."day"
                                ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                              ) AS "sum_v0",
                              SUM(ABS("t21"."v1")) OVER (
                                PARTITION BY "t21"."customer_id", "t21"."currency", "t21"."day"
                                ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                              ) AS "sum_v1",
                              COUNT("t21"."v0") OVER (
                                PARTITION BY "t21"."customer_id", "t21"."currency", "t21"."day"
                                ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                              ) AS "n"
                            FROM (
                              SELECT
                                "t12"."customer_id",
                                "t12"."ax_plan",
                                "t12"."currency",
                                "t12"."day",
                                "t12"."d_cents",
                                "t12"."d_micros",
                                "t12"."v1",
                                "t12"."v0",
                                "t20"."fx_customer",
                                "t20"."fx_currency",
                                "t20"."fx_day",
                                "t20"."fx_cents"
                              FROM (
                                SELECT
                                  "t8"."customer_id",
                                  "t8"."ax_plan",
                                  "t8"."currency",
                                  "t8"."day",
                                  "t8"."d_cents",
                                  "t8"."d_micros",
                                  "t8"."v1",
                                  "t8"."v1" - "t8"."d_cents" AS "v0"
                                FROM (
                                  SELECT
                                    "t1"."customer_id",
                                    "t1"."ax_plan",
                                    "t1"."currency",
                                    "t1"."day",
                                    "t1"."d_cents",
                                    "t1"."d_micros",
                                    SUM("t1"."d_cents") OVER (
                                      PARTITION BY "t1"."customer_id", "t1"."ax_plan", "t1"."currency"
                                      ORDER BY "t1"."day" ASC
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
                                    ) AS "v1"
                                  FROM "events" AS "t1"
                                ) AS "t8"
                              ) AS "t12"
                              INNER JOIN (
                                SELECT
                                  "t18"."customer_id" AS "fx_customer",
                                  "t18"."currency" AS "fx_currency",
                                  "t18"."day" AS "fx_day",
                                  "t18"."fx_cents"
                                FROM (
                                  SELECT
                                    "t16"."customer_id",
                                    "t16"."currency",
                                    "t16"."day",
                                    CASE
                                      WHEN (
                                        "t5"."st_kind" = 'change'
                                      ) AND (
                                        "t16"."l0" > 0
                                      ) AND (
                                        "t16"."l1" > 0
                                      )
                                      THEN CAST(ROUND((
                                        CAST("t16"."l0" AS DOUBLE) * "t16"."v1"
                                      ) / "t16"."l1", 0) AS BIGINT) - "t16"."v0"
                                      ELSE 0
                                    END AS "fx_cents"
                                  FROM (
                                    SELECT
                                      "t11"."customer_id",
                                      "t11"."currency",
                                      "t11"."day",
                                      "t11"."d_cents",
                                      "t11"."d_micros",
                                      "t11"."v1",
                                      "t11"."l1",
                                      "t11"."v1" - "t11"."d_cents" AS "v0",
                                      "t11"."l1" - "t11"."d_micros" AS "l0"
                                    FROM (
                                      SELECT
                                        "t7"."customer_id",
                                        "t7"."currency",
                                        "t7"."day",
                                        "t7"."d_cents",
                                        "t7"."d_micros",
                                        SUM("t7"."d_cents") OVER (
                                          PARTITION BY "t7"."customer_id", "t7"."currency"
                                          ORDER BY "t7"."day" ASC
                                          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
                                        ) AS "v1",
                                        SUM("t7"."d_micros") OVER (
                                          PARTITION BY "t7"."customer_id", "t7"."currency"
                                          ORDER BY "t7"."day" ASC
                                          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
                                        ) AS "l1"
                                      FROM (
                                        SELECT
                                          "t1"."customer_id",
                                          "t1"."currency",
                                          "t1"."day",
                                          SUM("t1"."d_cents") AS "d_cents",
                                          SUM("t1"."d_micros") AS "d_micros"
                                        FROM "events" AS "t1"
                                        GROUP BY
                                          1,
                                          2,
                                          3
                                      ) AS "t7"
                                    ) AS "t11"
                                  ) AS "t16"
                                  INNER JOIN (
                                    SELECT
                                      "t0"."customer_id" AS "st_customer",
                                      "t0"."day" AS "st_day",
                                      "t0"."kind" AS "st_kind"
                                    FROM "customer_states" AS "t0"
                                  ) AS "t5"
                                    ON "t16"."customer_id" = "t5"."st_customer" AND "t16"."day" = "t5"."st_day"
                                ) AS "t18"
                                WHERE
                                  "t18"."fx_cents" <> 0
                              ) AS "t20"
                                ON "t12"."customer_id" = "t20"."fx_customer"
                                AND "t12"."currency" = "t20"."fx_currency"
                                AND "t12"."day" = "t20"."fx_day"
                            ) AS "t21"
                          ) AS "t22"
                        ) AS "t23"
                      ) AS "t24"
                    ) AS "t25"
                    GROUP BY
                      1,
                      2,
                      3
                  ) AS "t26"
                ) AS "t28"
                  ON "t17"."customer_id" = "t28"."fx_customer_id"
                  AND "t17"."ax_plan" = "t28"."fx_ax_plan"
                  AND "t17"."day" = "t28"."fx_day"
              ) AS "t29"
            ) AS "t31"
            INNER JOIN (
              SELECT
                "t0"."customer_id" AS "st_customer",
                "t0"."day" AS "st_day",
                "t0"."m0_cents",
                "t0"."m1_cents",
                "t0"."kind"
              FROM "customer_states" AS "t0"
            ) AS "t4"
              ON "t31"."customer_id" = "t4"."st_customer" AND "t31"."day" = "t4"."st_day"
          ) AS "t32"
        ) AS "t33"
      ) AS "t34"
    ) AS "t35"
  ) AS "t36"
) AS "t37"
