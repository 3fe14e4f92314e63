/** The screens' addresses as hashes (pure, so it is testable without a DOM). */
export type Route =
  | { name: 'patients' }
  | { name: 'patient'; id: number }
  | { name: 'visit'; id: number }
  | { name: 'image'; id: number }
  | { name: 'lesion'; id: number }
  | { name: 'settings' }
  | { name: 'results' }
  | { name: 'audit' }
  | { name: 'model' };

export function parseHash(hash: string): Route {
  const m = /^#\/(patients|visits|images|lesions)\/(\d+)$/.exec(hash);
  if (m) {
    const id = Number(m[2]);
    const name = ({ patients: 'patient', visits: 'visit', images: 'image', lesions: 'lesion' } as const)[m[1] as 'patients'];
    return { name, id } as Route;
  }
  if (hash === '#/settings') return { name: 'settings' };
  if (hash === '#/results') return { name: 'results' };
  if (hash === '#/audit') return { name: 'audit' };
  if (hash === '#/model') return { name: 'model' };
  return { name: 'patients' };
}

export function hrefOf(route: Route): string {
  switch (route.name) {
    case 'patients':
      return '#/patients';
    case 'settings':
      return '#/settings';
    case 'results':
      return '#/results';
    case 'audit':
      return '#/audit';
    case 'model':
      return '#/model';
    case 'patient':
      return `#/patients/${route.id}`;
    case 'visit':
      return `#/visits/${route.id}`;
    case 'image':
      return `#/images/${route.id}`;
    case 'lesion':
      return `#/lesions/${route.id}`;
  }
}

