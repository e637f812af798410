// @generated automatically by Diesel CLI.

diesel::table! {
    alert_events (id) {
        id -> Int8,
        alert_id -> Int8,
        at -> Timestamptz,
        actor -> Text,
        action -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        tier -> Text,
        probability -> Float8,
        score_id -> Nullable<Int8>,
        reason -> Nullable<Text>,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    alert_feedback (id) {
        id -> Int8,
        alert_id -> Nullable<Int8>,
        score_id -> Int8,
        model_id -> Int8,
        tier -> Text,
        unit -> Nullable<Text>,
        given_by -> Text,
        given_at -> Timestamptz,
        source -> Text,
        outcome -> Text,
        reason -> Nullable<Text>,
        note -> Nullable<Text>,
        card_uuid -> Nullable<Uuid>,
    }
}

diesel::table! {
    alert_rule_history (rule_id, version) {
        rule_id -> Int8,
        version -> Int4,
        info -> Nullable<Float8>,
        warning -> Nullable<Float8>,
        critical -> Nullable<Float8>,
        hysteresis -> Float8,
        enabled -> Bool,
        changed_by -> Text,
        changed_at -> Timestamptz,
        reason -> Text,
    }
}

diesel::table! {
    alert_rules (id) {
        id -> Int8,
        target -> Text,
        unit_id -> Nullable<Int8>,
        info -> Nullable<Float8>,
        warning -> Nullable<Float8>,
        critical -> Nullable<Float8>,
        hysteresis -> Float8,
        enabled -> Bool,
        version -> Int4,
        changed_by -> Text,
        changed_at -> Timestamptz,
        reason -> Text,
    }
}

diesel::table! {
    alerts (id) {
        id -> Int8,
        patient_id -> Int8,
        target -> Text,
        episode -> Text,
        unit -> Nullable<Text>,
        rule_id -> Int8,
        rule_version -> Int4,
        model_id -> Int8,
        score_id -> Int8,
        probability -> Float8,
        factors -> Jsonb,
        tier -> Text,
        notified_tier -> Text,
        status -> Text,
        snoozed_until -> Nullable<Timestamptz>,
        critical_since -> Nullable<Timestamptz>,
        escalated_at -> Nullable<Timestamptz>,
        escalations -> Int4,
        opened_at -> Timestamptz,
        updated_at -> Timestamptz,
        ended_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    api_clients (id) {
        id -> Int8,
        client_id -> Text,
        name -> Text,
        jwks -> Jsonb,
        scopes -> Text,
        disabled_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        cds_issuer -> Nullable<Text>,
    }
}

diesel::table! {
    audit_log (seq) {
        seq -> Int8,
        at -> Timestamptz,
        actor -> Text,
        actor_role -> Text,
        action -> Text,
        resource_type -> Nullable<Text>,
        resource_id -> Nullable<Text>,
        patient_id -> Nullable<Int8>,
        data_category -> Nullable<Text>,
        outcome -> Text,
        source_address -> Nullable<Text>,
        request_id -> Nullable<Text>,
        break_glass -> Bool,
        detail -> Nullable<Text>,
        patients -> Nullable<Array<Nullable<Int8>>>,
        spool_key -> Nullable<Uuid>,
    }
}

diesel::table! {
    audit_seal_gaps (first_seq) {
        first_seq -> Int8,
        last_seq -> Int8,
        noticed_at -> Timestamptz,
    }
}

diesel::table! {
    audit_seals (position) {
        position -> Int8,
        seq -> Int8,
        prev_hash -> Bytea,
        hash -> Bytea,
        sealed_at -> Timestamptz,
    }
}

diesel::table! {
    backtests (id) {
        id -> Int8,
        model_id -> Int8,
        period_from -> Timestamptz,
        period_to -> Timestamptz,
        probabilities -> Array<Nullable<Float8>>,
        labels -> Array<Nullable<Bool>>,
        patient_days -> Float8,
        created_by -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    break_glass_grants (id) {
        id -> Int8,
        user_id -> Int8,
        patient_id -> Int8,
        reason -> Text,
        granted_at -> Timestamptz,
        expires_at -> Timestamptz,
        reviewed_at -> Nullable<Timestamptz>,
        reviewed_by -> Nullable<Int8>,
        review_note -> Nullable<Text>,
    }
}

diesel::table! {
    care_units (id) {
        id -> Int8,
        code -> Text,
        name -> Text,
        created_at -> Timestamptz,
        escalate_after_secs -> Int4,
        escalate_repeat_secs -> Int4,
    }
}

diesel::table! {
    cds_cards (uuid) {
        uuid -> Uuid,
        service -> Text,
        client_id -> Text,
        patient_id -> Int8,
        score_id -> Nullable<Int8>,
        model_id -> Nullable<Int8>,
        tier -> Nullable<Text>,
        unit -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    client_assertion_jtis (client_id, jti) {
        client_id -> Text,
        jti -> Text,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    conditions (id) {
        id -> Int8,
        source_system -> Text,
        fhir_id -> Text,
        version -> Int4,
        source_version_id -> Nullable<Text>,
        source_last_updated -> Nullable<Timestamptz>,
        content_hash -> Bytea,
        patient_id -> Int8,
        encounter_fhir_id -> Nullable<Text>,
        icd10_codes -> Array<Nullable<Text>>,
        snomed_codes -> Array<Nullable<Text>>,
        code_display -> Nullable<Text>,
        clinical_status -> Nullable<Text>,
        verification_status -> Nullable<Text>,
        category_code -> Nullable<Text>,
        onset_at -> Nullable<Timestamptz>,
        abatement_at -> Nullable<Timestamptz>,
        recorded_at -> Nullable<Timestamptz>,
        stored_at -> Timestamptz,
    }
}

diesel::table! {
    encounters (id) {
        id -> Int8,
        source_system -> Text,
        fhir_id -> Text,
        version -> Int4,
        source_version_id -> Nullable<Text>,
        source_last_updated -> Nullable<Timestamptz>,
        content_hash -> Bytea,
        patient_id -> Int8,
        status -> Text,
        class_code -> Nullable<Text>,
        period_start -> Nullable<Timestamptz>,
        period_end -> Nullable<Timestamptz>,
        priority_code -> Nullable<Text>,
        admit_source_code -> Nullable<Text>,
        discharge_disposition_code -> Nullable<Text>,
        service_type_code -> Nullable<Text>,
        location_fhir_id -> Nullable<Text>,
        unit -> Nullable<Text>,
        reason_codes -> Jsonb,
        diagnoses -> Jsonb,
        part_of_fhir_id -> Nullable<Text>,
        stored_at -> Timestamptz,
    }
}

diesel::table! {
    feed_positions (consumer) {
        consumer -> Text,
        seq -> Int8,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    import_job_parts (job_id, part) {
        job_id -> Uuid,
        part -> Int4,
        first_line -> Int8,
        body -> Bytea,
    }
}

diesel::table! {
    import_jobs (id) {
        id -> Uuid,
        requested_by -> Text,
        requester_role -> Text,
        source_system -> Text,
        status -> Text,
        progress -> Int8,
        summary -> Nullable<Jsonb>,
        error -> Nullable<Text>,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        heartbeat_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        attempts -> Int4,
        write_scopes -> Text,
    }
}

diesel::table! {
    ingest_rejects (id) {
        id -> Int8,
        source_system -> Text,
        origin -> Text,
        location -> Text,
        resource_type -> Nullable<Text>,
        fhir_id -> Nullable<Text>,
        outcome -> Jsonb,
        content -> Text,
        rejected_at -> Timestamptz,
        resolved_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    medication_requests (id) {
        id -> Int8,
        source_system -> Text,
        fhir_id -> Text,
        version -> Int4,
        source_version_id -> Nullable<Text>,
        source_last_updated -> Nullable<Timestamptz>,
        content_hash -> Bytea,
        patient_id -> Int8,
        encounter_fhir_id -> Nullable<Text>,
        status -> Text,
        intent -> Nullable<Text>,
        rxnorm_code -> Nullable<Text>,
        code_display -> Nullable<Text>,
        authored_at -> Nullable<Timestamptz>,
        stored_at -> Timestamptz,
    }
}

diesel::table! {
    model_findings (model_id, week, kind) {
        model_id -> Int8,
        week -> Date,
        kind -> Text,
        detail -> Text,
        found_at -> Timestamptz,
    }
}

diesel::table! {
    model_monitoring (id) {
        id -> Int8,
        model_id -> Int8,
        week -> Date,
        unit -> Nullable<Text>,
        scores -> Int4,
        matured -> Int4,
        events -> Int4,
        figures -> Jsonb,
        computed_at -> Timestamptz,
    }
}

diesel::table! {
    model_status_changes (id) {
        id -> Int8,
        model_id -> Int8,
        from_status -> Nullable<Text>,
        to_status -> Text,
        changed_by -> Text,
        changed_at -> Timestamptz,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    models (id) {
        id -> Int8,
        version -> Text,
        target -> Text,
        algorithm -> Text,
        feature_version -> Int4,
        trained_from -> Nullable<Timestamptz>,
        trained_until -> Nullable<Timestamptz>,
        training_examples -> Int4,
        training_positives -> Int4,
        metrics -> Jsonb,
        threshold -> Float8,
        status -> Text,
        artifact -> Nullable<Jsonb>,
        created_by -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    notification_preferences (user_id) {
        user_id -> Int8,
        email_tiers -> Array<Nullable<Text>>,
        delivery -> Text,
        quiet_start -> Nullable<Time>,
        quiet_end -> Nullable<Time>,
        time_zone -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    observations (id) {
        id -> Int8,
        source_system -> Text,
        fhir_id -> Text,
        version -> Int4,
        source_version_id -> Nullable<Text>,
        source_last_updated -> Nullable<Timestamptz>,
        content_hash -> Bytea,
        patient_id -> Int8,
        encounter_fhir_id -> Nullable<Text>,
        status -> Text,
        category_code -> Nullable<Text>,
        loinc_code -> Nullable<Text>,
        code_display -> Nullable<Text>,
        effective_at -> Nullable<Timestamptz>,
        value_quantity -> Nullable<Float8>,
        value_unit -> Nullable<Text>,
        value_code -> Nullable<Text>,
        value_text -> Nullable<Text>,
        components -> Jsonb,
        stored_at -> Timestamptz,
    }
}

diesel::table! {
    outbox (id) {
        id -> Int8,
        user_id -> Int8,
        alert_id -> Nullable<Int8>,
        kind -> Text,
        tier -> Text,
        unit -> Nullable<Text>,
        deliver_after -> Timestamptz,
        message_id -> Nullable<Int8>,
        created_at -> Timestamptz,
        model_id -> Nullable<Int8>,
    }
}

diesel::table! {
    outbox_messages (id) {
        id -> Int8,
        user_id -> Int8,
        recipient -> Text,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        leased_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    patient_changes (seq) {
        seq -> Int8,
        patient_id -> Int8,
        changed_at -> Timestamptz,
    }
}

diesel::table! {
    patient_unit_assignments (patient_id, unit_id) {
        patient_id -> Int8,
        unit_id -> Int8,
        assigned_at -> Timestamptz,
    }
}

diesel::table! {
    patients (id) {
        id -> Int8,
        source_system -> Text,
        fhir_id -> Text,
        version -> Int4,
        source_version_id -> Nullable<Text>,
        source_last_updated -> Nullable<Timestamptz>,
        content_hash -> Nullable<Bytea>,
        mrn -> Nullable<Text>,
        identifiers -> Jsonb,
        family_name -> Nullable<Text>,
        given_names -> Nullable<Text>,
        birth_date -> Nullable<Date>,
        sex -> Nullable<Text>,
        race_code -> Nullable<Text>,
        race_display -> Nullable<Text>,
        ethnicity_code -> Nullable<Text>,
        ethnicity_display -> Nullable<Text>,
        deceased -> Bool,
        deceased_at -> Nullable<Timestamptz>,
        postal_code -> Nullable<Text>,
        stored_at -> Timestamptz,
    }
}

diesel::table! {
    procedures (id) {
        id -> Int8,
        source_system -> Text,
        fhir_id -> Text,
        version -> Int4,
        source_version_id -> Nullable<Text>,
        source_last_updated -> Nullable<Timestamptz>,
        content_hash -> Bytea,
        patient_id -> Int8,
        encounter_fhir_id -> Nullable<Text>,
        status -> Text,
        code_system -> Nullable<Text>,
        code -> Nullable<Text>,
        code_display -> Nullable<Text>,
        performed_start -> Nullable<Timestamptz>,
        performed_end -> Nullable<Timestamptz>,
        stored_at -> Timestamptz,
    }
}

diesel::table! {
    promotion_decisions (id) {
        id -> Int8,
        challenger_id -> Int8,
        champion_id -> Nullable<Int8>,
        decision -> Text,
        automatic -> Bool,
        decided_by -> Text,
        reason -> Nullable<Text>,
        figures -> Jsonb,
        decided_at -> Timestamptz,
    }
}

diesel::table! {
    pull_state (remote, resource_type) {
        remote -> Text,
        resource_type -> Text,
        high_water -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    raw_resources (id) {
        id -> Int8,
        source_system -> Text,
        resource_type -> Text,
        fhir_id -> Text,
        version -> Int4,
        source_version_id -> Nullable<Text>,
        source_last_updated -> Nullable<Timestamptz>,
        content_hash -> Bytea,
        content -> Jsonb,
        received_at -> Timestamptz,
        superseded_at -> Nullable<Timestamptz>,
        deleted -> Bool,
    }
}

diesel::table! {
    score_outcomes (score_id) {
        score_id -> Int8,
        unit -> Nullable<Text>,
        outcome -> Nullable<Bool>,
        matured_at -> Nullable<Timestamptz>,
        recorded_at -> Timestamptz,
    }
}

diesel::table! {
    scores (id) {
        id -> Int8,
        run_id -> Int8,
        model_id -> Int8,
        patient_id -> Int8,
        encounter_fhir_id -> Nullable<Text>,
        as_of -> Timestamptz,
        probability -> Nullable<Float8>,
        points -> Nullable<Int4>,
        features -> Array<Nullable<Float8>>,
        factors -> Jsonb,
        created_at -> Timestamptz,
        retained -> Bool,
    }
}

diesel::table! {
    scoring_runs (id) {
        id -> Int8,
        kind -> Text,
        as_of -> Timestamptz,
        status -> Text,
        cursor -> Int8,
        patient_ids -> Nullable<Array<Nullable<Int8>>>,
        scored -> Int4,
        started_by -> Text,
        started_at -> Timestamptz,
        heartbeat_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        model_ids -> Nullable<Array<Nullable<Int8>>>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Int8,
        secret_hash -> Bytea,
        user_id -> Int8,
        csrf_token -> Text,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        expires_at -> Timestamptz,
        ended_at -> Nullable<Timestamptz>,
        stage -> Text,
    }
}

diesel::table! {
    sign_in_failures (key) {
        key -> Text,
        failures -> Int4,
        last_failure_at -> Timestamptz,
        last_attempt_counted -> Bool,
    }
}

diesel::table! {
    user_recovery_codes (id) {
        id -> Int8,
        user_id -> Int8,
        code_hash -> Bytea,
        created_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    user_units (user_id, unit_id) {
        user_id -> Int8,
        unit_id -> Int8,
        escalation_contact -> Bool,
    }
}

diesel::table! {
    users (id) {
        id -> Int8,
        username -> Text,
        display_name -> Text,
        role -> Text,
        password_hash -> Text,
        disabled_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        password_changed_at -> Timestamptz,
        totp_secret -> Nullable<Bytea>,
        totp_pending -> Nullable<Bytea>,
        totp_last_step -> Nullable<Int8>,
        email -> Nullable<Text>,
    }
}

diesel::joinable!(alert_events -> alerts (alert_id));
diesel::joinable!(alert_feedback -> alerts (alert_id));
diesel::joinable!(alert_feedback -> cds_cards (card_uuid));
diesel::joinable!(alert_feedback -> models (model_id));
diesel::joinable!(alert_rule_history -> alert_rules (rule_id));
diesel::joinable!(alert_rules -> care_units (unit_id));
diesel::joinable!(alerts -> alert_rules (rule_id));
diesel::joinable!(alerts -> models (model_id));
diesel::joinable!(alerts -> patients (patient_id));
diesel::joinable!(audit_seals -> audit_log (seq));
diesel::joinable!(backtests -> models (model_id));
diesel::joinable!(break_glass_grants -> patients (patient_id));
diesel::joinable!(cds_cards -> models (model_id));
diesel::joinable!(cds_cards -> patients (patient_id));
diesel::joinable!(conditions -> patients (patient_id));
diesel::joinable!(encounters -> patients (patient_id));
diesel::joinable!(import_job_parts -> import_jobs (job_id));
diesel::joinable!(medication_requests -> patients (patient_id));
diesel::joinable!(model_findings -> models (model_id));
diesel::joinable!(model_monitoring -> models (model_id));
diesel::joinable!(model_status_changes -> models (model_id));
diesel::joinable!(notification_preferences -> users (user_id));
diesel::joinable!(observations -> patients (patient_id));
diesel::joinable!(outbox -> alerts (alert_id));
diesel::joinable!(outbox -> models (model_id));
diesel::joinable!(outbox -> outbox_messages (message_id));
diesel::joinable!(outbox -> users (user_id));
diesel::joinable!(outbox_messages -> users (user_id));
diesel::joinable!(patient_changes -> patients (patient_id));
diesel::joinable!(patient_unit_assignments -> care_units (unit_id));
diesel::joinable!(patient_unit_assignments -> patients (patient_id));
diesel::joinable!(procedures -> patients (patient_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(user_recovery_codes -> users (user_id));
diesel::joinable!(user_units -> care_units (unit_id));
diesel::joinable!(user_units -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    alert_events,
    alert_feedback,
    alert_rule_history,
    alert_rules,
    alerts,
    api_clients,
    audit_log,
    audit_seal_gaps,
    audit_seals,
    backtests,
    break_glass_grants,
    care_units,
    cds_cards,
    client_assertion_jtis,
    conditions,
    encounters,
    feed_positions,
    import_job_parts,
    import_jobs,
    ingest_rejects,
    medication_requests,
    model_findings,
    model_monitoring,
    model_status_changes,
    models,
    notification_preferences,
    observations,
    outbox,
    outbox_messages,
    patient_changes,
    patient_unit_assignments,
    patients,
    procedures,
    promotion_decisions,
    pull_state,
    raw_resources,
    score_outcomes,
    scores,
    scoring_runs,
    sessions,
    sign_in_failures,
    user_recovery_codes,
    user_units,
    users,
);
