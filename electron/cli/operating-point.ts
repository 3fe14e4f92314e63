/** `--operating-point`, shared by the commands that label images. */
import { Option } from 'commander';
import { OperatingPointName } from '../model/manifest.ts';

export function operatingPointOption(): Option {
  return new Option(
    '--operating-point <preset>',
    "threshold preset chosen on validation data: sensitive (sensitivity >= 0.90), balanced (max Youden's J) or specific (specificity >= 0.90); models without presets use their single threshold",
  )
    .choices(OperatingPointName.options)
    .default('sensitive');
}
