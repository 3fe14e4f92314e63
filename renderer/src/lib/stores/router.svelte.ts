/**
 * Hash routing: works unchanged under the app's custom protocol and the test bridge, survives a
 * reload, and the back button does what a clinician expects.
 */
import { hrefOf, parseHash, type Route } from '../routes.ts';

export type { Route };

class Router {
  route = $state<Route>(parseHash(location.hash));

  constructor() {
    addEventListener('hashchange', () => {
      this.route = parseHash(location.hash);
    });
  }

  go(route: Route): void {
    location.hash = hrefOf(route);
  }
}

export const router = new Router();
