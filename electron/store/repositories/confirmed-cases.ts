/**
 * The store's confirmed cases for clinic adaptation: each image's newest review that carries a
 * confirmed diagnosis, with the image's prediction by the model being adapted (its stored
 * features are what adaptation fits on) and the patient and lesion it belongs to (the groups
 * cross-validation keeps on one side). other_malignant is returned too; the caller keeps it out.
 */
import type { ConfirmationBasis, ConfirmedDiagnosis } from '#common/domain';
import type { RepoContext } from '../context.ts';

export interface ConfirmedCase {
  readonly imageId: number;
  /** The image's prediction by the model asked for; null when that model never scored it. */
  readonly predictionId: number | null;
  readonly patientId: number | null;
  readonly lesionId: number | null;
  /** The stored image's content hash (ContentStore.pathOf finds its bytes). */
  readonly sha256: string;
  readonly diagnosis: ConfirmedDiagnosis;
  readonly basis: ConfirmationBasis;
  /** YYYY-MM-DD */
  readonly confirmedOn: string;
  readonly reviewId: number;
}

export function confirmedCases(ctx: RepoContext, modelVersion: string): ConfirmedCase[] {
  return ctx.db
    .prepare(
      `SELECT i.id AS imageId,
              (SELECT p.id FROM predictions p WHERE p.image_id = i.id AND p.model_version = ?) AS predictionId,
              i.patient_id AS patientId, i.lesion_id AS lesionId, i.sha256 AS sha256,
              r.confirmed_diagnosis AS diagnosis, r.confirmation_basis AS basis, r.confirmed_on AS confirmedOn, r.id AS reviewId
       FROM reviews r JOIN images i ON i.id = r.image_id
       WHERE r.id = (SELECT max(c.id) FROM reviews c WHERE c.image_id = r.image_id AND c.confirmed_diagnosis IS NOT NULL)
       ORDER BY i.id`,
    )
    .all(modelVersion) as ConfirmedCase[];
}
