// k6: HealthSamurai-style CRUD loop: create, read, update, delete a Patient, then the same
// for an Observation of a stored Patient. One iteration = 8 requests.
import http from 'k6/http';
import { check } from 'k6';

const base = __ENV.BASE;
const patients = JSON.parse(open(__ENV.PATIENTS_FILE));
const json = {headers: {'Content-Type': 'application/fhir+json'}};

export const options = {
  vus: Number(__ENV.VUS),
  duration: __ENV.DURATION,
  summaryTrendStats: ['med', 'p(95)', 'p(99)', 'avg', 'max'],
};

function cycle(type, body, changed) {
  const created = http.post(`${base}/${type}`, JSON.stringify(body), json);
  if (!check(created, {created: (x) => x.status === 201})) return;
  const id = created.json().id;
  check(http.get(`${base}/${type}/${id}`), {read: (x) => x.status === 200});
  const update = Object.assign({}, changed, {id: id});
  check(http.put(`${base}/${type}/${id}`, JSON.stringify(update), json), {updated: (x) => x.status === 200});
  check(http.del(`${base}/${type}/${id}`), {deleted: (x) => x.status === 200 || x.status === 204});
}

export default function () {
  const patient = {resourceType: 'Patient', name: [{family: 'Crud', given: ['K6']}], birthDate: '1980-01-01'};
  cycle('Patient', patient, Object.assign({}, patient, {gender: 'other'}));
  const pid = patients[Math.floor(Math.random() * patients.length)];
  const obs = {resourceType: 'Observation', status: 'final',
    code: {coding: [{system: 'http://loinc.org', code: '8867-4'}]}, subject: {reference: 'Patient/' + pid},
    effectiveDateTime: '2025-06-01T10:00:00Z',
    valueQuantity: {value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min'}};
  cycle('Observation', obs, Object.assign({}, obs, {status: 'amended'}));
}
