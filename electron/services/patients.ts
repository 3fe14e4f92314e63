/** Patients, their visits and their lesions: thin over the store's repositories. */
import type { Store } from '../store/index.ts';
import type { ChannelsOf } from './types.ts';

export function patientChannels(store: Store): ChannelsOf<'patients.list' | 'patients.get' | 'patients.create' | 'patients.update'> {
  const { patients } = store;
  return {
    'patients.list': async ({ query, page, pageSize }) => patients.list({ search: query, page, pageSize }),
    'patients.get': async ({ id }) => patients.require(id),
    'patients.create': async (input) => patients.create(input),
    'patients.update': async ({ id, patch }) => patients.update(id, patch),
  };
}

export function visitChannels(store: Store): ChannelsOf<'visits.list' | 'visits.get' | 'visits.create' | 'visits.update'> {
  const { visits } = store;
  return {
    async 'visits.list'({ patientId }) {
      store.patients.require(patientId);
      // Image counts and risk per visit in one query, not one per visit and image.
      return visits.summariesForPatient(patientId);
    },
    'visits.get': async ({ id }) => visits.require(id),
    'visits.create': async (input) => visits.create(input),
    'visits.update': async ({ id, patch }) => visits.update(id, patch),
  };
}

export function lesionChannels(store: Store): ChannelsOf<'lesions.list' | 'lesions.create' | 'lesions.update' | 'lesions.followUp'> {
  const { lesions } = store;
  return {
    async 'lesions.list'({ patientId }) {
      store.patients.require(patientId);
      return lesions.listForPatient(patientId);
    },
    'lesions.create': async (input) => lesions.create(input),
    'lesions.update': async ({ id, patch }) => lesions.update(id, patch),
    async 'lesions.followUp'({ id }) {
      const lesion = lesions.require(id);
      const patient = store.patients.require(lesion.patientId);
      const points = store.lesionTimeline(id).map(({ image, visit, prediction, review }) => ({ image, visit, prediction, review }));
      return { lesion, patient, points };
    },
  };
}
