// k6: Blaze's transaction workload: a Bundle of 1 Patient + 1 Observation linked by urn:uuid.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: Number(__ENV.VUS),
  duration: __ENV.DURATION,
  summaryTrendStats: ['med', 'p(95)', 'p(99)', 'avg', 'max'],
  discardResponseBodies: true,
};

function uuid() {
  return 'xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx'.replace(/[xy]/g, (c) => {
    const r = Math.random() * 16 | 0;
    return (c === 'x' ? r : (r & 0x3 | 0x8)).toString(16);
  });
}

export default function () {
  const p = 'urn:uuid:' + uuid();
  const bundle = {resourceType: 'Bundle', type: 'transaction', entry: [
    {fullUrl: p, resource: {resourceType: 'Patient', name: [{family: 'Tx', given: ['K6']}], birthDate: '1980-01-01'},
     request: {method: 'POST', url: 'Patient'}},
    {resource: {resourceType: 'Observation', status: 'final',
                code: {coding: [{system: 'http://loinc.org', code: '8867-4'}]}, subject: {reference: p},
                effectiveDateTime: '2025-06-01T10:00:00Z',
                valueQuantity: {value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min'}},
     request: {method: 'POST', url: 'Observation'}}]};
  const r = http.post(__ENV.BASE, JSON.stringify(bundle), {headers: {'Content-Type': 'application/fhir+json'}});
  check(r, {ok: (x) => x.status === 200});
}
