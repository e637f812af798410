#!/usr/bin/env bash
# Loads a synthetic population into the database the first time `make run` uses it, creates the
# care units its encounters name, trains and activates an admission and a readmission model,
# scores everyone, adds a ward nurse, installs default alert rules and scores again so that
# alerts open and their emails are queued. Usage: first-load.sh "VIGIL COMMAND" HOME PATIENTS
# The marker HOME/loaded holds the database URLs already loaded, so another database loads again.
set -euo pipefail
vigil=$1
home=$2
patients=$3
marker="$home/loaded"
if [ -f "$marker" ] && grep -qxF "$DATABASE_URL" "$marker"; then
  exit 0
fi
echo "Loading a synthetic population of $patients patients (first run only)..."
rm -rf "$home/synth"
end=2026-10-31 # the last day of the synthetic history
$vigil synth --patients "$patients" --seed 1 --end "$end" --out "$home/synth" >/dev/null
$vigil ingest --source urn:vigil:synth "$home/synth" | tail -n 2
for unit in "ward-4W:Ward 4 West (Medicine)" "ward-5E:Ward 5 East (Cardiology)" "ward-6N:Ward 6 North (Oncology)" \
            "ward-3S:Ward 3 South (Surgery)" "ward-2P:Ward 2 Pulmonary"; do
  $vigil unit add "${unit%%:*}" --name "${unit#*:}" >/dev/null 2>&1 || true
done
rm -rf "$home/synth"
# A clinician of every ward, so that alerts have someone to email (into $home/mail).
"$(dirname "$0")/first-user.sh" "$vigil" "$home/nurse-password" nurse --name "Ward Nurse" --role clinician \
  --email nurse@hospital.example --unit ward-4W --unit ward-5E --unit ward-6N --unit ward-3S --unit ward-2P
for target in readmission admission; do
  echo "Training the $target model..."
  report=$($vigil train --target "$target")
  echo "$report" | grep -E '^  (model|LACE|HOSPITAL) ' || true
  version=$(echo "$report" | grep -o 'registered [a-z]*-[0-9]*' | cut -d' ' -f2)
  # A demonstration population: its model is made active whatever its calibration, and says so.
  $vigil model activate "$version" --override "the synthetic population make run loads, for demonstration"
done
# Every other week of the half year before the newest data, scored as Vigil would have then, and a
# monitoring pass over those scores' outcomes: the models' monitoring pages have series to show.
for weeks in 26 24 22 20 18 16 14 12 10 8 6 5; do
  $vigil score --as-of "$(date -u -d "$end - $weeks weeks" +%F)" >/dev/null
done
$vigil model monitor --run | sed -n 1p
$vigil score | tail -n 2 | sed -n 1p
# Default alert rules from the models' own scores: warning for the highest 5 %, critical for the
# highest 1 %; then a run that opens the alerts (and queues their emails).
for target in admission readmission; do
  $vigil alert rule add --target "$target" --warning top5% --critical top1% \
    --reason "default rule installed by make run" >/dev/null 2>&1 || true
done
$vigil score | tail -n 2
echo "$DATABASE_URL" >> "$marker"
