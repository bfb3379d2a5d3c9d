// k6 load for bench/micro.py: read-by-id or create of one resource type.
import http from 'k6/http';
import { check } from 'k6';

const ids = JSON.parse(open(__ENV.IDS_FILE));
const base = __ENV.BASE;
const type = __ENV.TYPE;
const patients = ids.Patient;
const own = ids[type];

export const options = {
  vus: Number(__ENV.VUS),
  duration: __ENV.DURATION,
  summaryTrendStats: ['med', 'p(95)', 'p(99)', 'avg', 'max'],
  discardResponseBodies: true,
};

function pick(list) { return list[Math.floor(Math.random() * list.length)]; }

function body() {
  if (type === 'Patient') {
    return JSON.stringify({resourceType: 'Patient', name: [{family: 'Bench', given: ['K6']}], gender: 'other',
                           birthDate: '1970-01-01'});
  }
  return JSON.stringify({resourceType: 'Observation', status: 'final',
    code: {coding: [{system: 'http://loinc.org', code: '8867-4'}]},
    subject: {reference: 'Patient/' + pick(patients)}, effectiveDateTime: '2025-06-01T10:00:00Z',
    valueQuantity: {value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min'}});
}

export default function () {
  if (__ENV.MODE === 'floor') {
    const r = http.get(__ENV.FLOOR_URL);
    check(r, {ok: (x) => x.status === 200});
  } else if (__ENV.MODE === 'read') {
    const r = http.get(`${base}/${type}/${pick(own)}`);
    check(r, {ok: (x) => x.status === 200});
  } else {
    const r = http.post(`${base}/${type}`, body(), {headers: {'Content-Type': 'application/fhir+json'}});
    check(r, {ok: (x) => x.status === 201});
  }
}
