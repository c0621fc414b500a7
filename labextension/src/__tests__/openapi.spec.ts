import { ServerConnection } from '@jupyterlab/services';

import { InferlessModel } from '../model';
import { InferlessClient } from '../request';
import { openApiLink, OPENAPI_PATH } from '../types';
import { FakeApi } from './fakes';

describe('the OpenAPI link', () => {
  it('points under the server base_url', () => {
    const settings = { baseUrl: 'http://host/base/' } as ServerConnection.ISettings;
    expect(new InferlessClient(settings).openApiUrl()).toBe(
      'http://host/base/inferless/api/openapi.json'
    );
    expect(OPENAPI_PATH).toBe('inferless/api/openapi.json');
  });

  it('is what the panel model links', () => {
    const model = new InferlessModel(new FakeApi());
    expect(model.openApiUrl).toBe('http://host/base/inferless/api/openapi.json');
    model.dispose();
  });

  it('opens in a new tab, without an opener', () => {
    const link = openApiLink('http://host/base/inferless/api/openapi.json');
    expect(link.href).toBe('http://host/base/inferless/api/openapi.json');
    expect(link.target).toBe('_blank');
    expect(link.rel).toBe('noopener noreferrer');
  });
});
