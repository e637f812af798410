# The two commands: `make run` and `make test`. `make ci` is what CI runs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
DIESEL_CLI_VERSION := 2.3.4
# A private cluster (deploy/postgres.sh) and anything else made at run time lives here.
VIGIL_HOME := $(CURDIR)/.vigil
# Synthetic patients `make run` loads into a database that has none from it yet.
PATIENTS ?= 5000

.PHONY: help run test ci deny bench loadtest fuzz screenshots fmt-check clippy schema schema-check tools

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

run: ## build, bring up Postgres, migrate, and serve over HTTPS (prints the URL and a sign-in)
	@deploy/system-deps.sh
	$(CARGO) build --release --locked --bin vigil
	@mkdir -p $(VIGIL_HOME)
	@target/release/vigil init --dir $(VIGIL_HOME)
	@roles=$$(deploy/postgres.sh roles); \
	  export VIGIL_DATABASE__MIGRATION_URL="$$(echo "$$roles" | sed -n 1p)"; \
	  export DATABASE_URL="$$(echo "$$roles" | sed -n 2p)"; \
	  vigil="target/release/vigil --config $(VIGIL_HOME)/vigil.toml"; \
	  $$vigil migrate; \
	  deploy/first-load.sh "$$vigil" $(VIGIL_HOME) $(PATIENTS); \
	  deploy/first-user.sh "$$vigil" $(VIGIL_HOME)/admin-password admin --name Administrator --role admin; \
	  deploy/first-user.sh "$$vigil" $(VIGIL_HOME)/analyst-password analyst --name "Clinical informatics" --role informatics; \
	  echo "Sign in as admin with the password in $(VIGIL_HOME)/admin-password: $$(cat $(VIGIL_HOME)/admin-password)"; \
	  echo "  or as nurse (a clinician of every ward) with: $$(cat $(VIGIL_HOME)/nurse-password 2>/dev/null)"; \
	  echo "  or as analyst (clinical informatics: models and alert rules) with: $$(cat $(VIGIL_HOME)/analyst-password)"; \
	  echo "The certificate is self-signed ($(VIGIL_HOME)/tls/cert.pem): your browser will ask you to trust it."; \
	  echo "Alert emails (no SMTP server configured) are written to $(VIGIL_HOME)/mail/; the worker logs to $(VIGIL_HOME)/worker.log."; \
	  echo "CDS Hooks: /cds-services; register an EHR with vigil client add --name EHR --jwks FILE --scopes system/RiskAssessment.read --cds-issuer ITS-ISS"; \
	  echo "Health: /healthz   Readiness: /readyz   Stop: Ctrl-C"; \
	  $$vigil worker >> $(VIGIL_HOME)/worker.log 2>&1 & worker=$$!; \
	  trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $$vigil serve

test: tools ## the whole suite (needs a Postgres: found or started like make run's)
	@url=$$(deploy/postgres.sh url); \
	  export VIGIL_TEST_ADMIN_URL="$${VIGIL_TEST_ADMIN_URL:-$$url}"; \
	  $(CARGO) test --workspace --locked --no-fail-fast; \
	  $(MAKE) --no-print-directory schema-check

ci: fmt-check clippy deny test ## what CI runs: format check, clippy with warnings as errors, cargo deny, the suite

bench: ## performance figures, each beside a limit measured in the same run (VIGIL_BENCH_PATIENTS=100000)
	@deploy/system-deps.sh
	@deploy/bench-deps.sh
	@url=$$(deploy/postgres.sh url); \
	  export VIGIL_TEST_ADMIN_URL="$${VIGIL_TEST_ADMIN_URL:-$$url}"; \
	  $(CARGO) bench --locked -p vigil --bench auth; \
	  $(CARGO) bench --locked -p vigil --bench ingest; \
	  $(CARGO) bench --locked -p vigil --bench models; \
	  $(CARGO) bench --locked -p vigil --bench scoring; \
	  $(CARGO) bench --locked -p vigil --bench scoring_run; \
	  $(CARGO) bench --locked -p vigil --bench reads; \
	  $(CARGO) bench --locked -p vigil --bench audit_append; \
	  $(CARGO) bench --locked -p vigil --bench relay; \
	  $(CARGO) bench --locked -p vigil --bench alert_latency; \
	  $(CARGO) bench --locked -p vigil --bench alert_evaluation; \
	  $(CARGO) bench --locked -p vigil --bench portal; \
	  $(CARGO) bench --locked -p vigil --bench monitoring; \
	  $(CARGO) bench --locked -p vigil --bench cds; \
	  $(CARGO) bench --locked -p vigil --bench growth; \
	  $(CARGO) bench --locked -p vigil --bench generalize

loadtest: ## fixed-rate load on FHIR, the worklist, tokens and transactions, then faults under load (about 5 min)
	@deploy/system-deps.sh
	@deploy/bench-deps.sh
	$(CARGO) bench --locked -p vigil --bench loadtest

FUZZ_SECONDS ?= 60
FUZZ_TARGETS := fhir_bundle fhir_ndjson search_params access_token client_assertion
CARGO_FUZZ_VERSION := 0.13.2

# cargo fuzz instruments with flags only nightly compilers accept; this machine has the stable
# one, which RUSTC_BOOTSTRAP lets take them. No sanitizer: the code is safe Rust, so a panic is what
# the fuzzer looks for, and the build stays as fast as a release build.
fuzz: ## run each fuzz target for FUZZ_SECONDS (default 60), seeded with fuzz/regressions/; crashes land in fuzz/artifacts/
	@if ! cargo fuzz --version 2>/dev/null | grep -q "$(CARGO_FUZZ_VERSION)"; then \
	  $(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked; \
	fi
	@for target in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$target; cp fuzz/regressions/$$target/* fuzz/corpus/$$target/; \
	  echo "fuzzing $$target for $(FUZZ_SECONDS) s"; \
	  (cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --sanitizer none $$target corpus/$$target -- \
	    -max_total_time=$(FUZZ_SECONDS)) || exit 1; \
	done

screenshots: ## PNGs of the portal's pages at desktop and tablet width into target/screenshots/
	@deploy/system-deps.sh
	@url=$$(deploy/postgres.sh url); \
	  export VIGIL_TEST_ADMIN_URL="$${VIGIL_TEST_ADMIN_URL:-$$url}"; \
	  VIGIL_SCREENSHOTS=$(CURDIR)/target/screenshots $(CARGO) test --locked -p vigil --test e2e -- in_a_real_browser

deny: ## cargo deny: advisories (RustSec), licenses, duplicate versions, sources (deploy/deny.sh)
	@deploy/deny.sh

fmt-check:
	$(CARGO) fmt --all --check

clippy: tools
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# diesel_cli renders schema.rs from the migrations; pinned so that its output is stable.
tools:
	@deploy/system-deps.sh
	@if ! diesel --version 2>/dev/null | grep -q "$(DIESEL_CLI_VERSION)"; then \
	  echo "installing diesel_cli $(DIESEL_CLI_VERSION)"; \
	  $(CARGO) install diesel_cli --version $(DIESEL_CLI_VERSION) --locked --no-default-features --features postgres; \
	fi

schema: tools ## regenerate store/src/schema.rs from the migrations
	@deploy/schema.sh write

schema-check: tools ## fail when store/src/schema.rs and the migrations disagree
	@deploy/schema.sh check
