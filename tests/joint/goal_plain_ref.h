/* --plain-l1 numbers of the previous src/joint/goal.c (git c9b703b, before the
 * proximal step) on test_goal.c's fixture, recorded by running that version
 * of hr_joint_goal with the fixture and settings of test_plain_reproduces. */
#define PLAIN_REF_NITER 3
/* val_acc, test_acc, xi, lambda, J, T_eff per alternation */
static const double plain_ref_iter[][6] = {
    {1.2987012987012987, 0.970873786407767, 0.49999999999444411, 6.4040518248148732, 99575.677476705256, 26.976177998948792},
    {1.2987012987012987, 0.970873786407767, 0.99999999998888778, 5.8029352553525211, 99122.432542866649, 23.731244155344505},
    {1.2987012987012987, 0.970873786407767, 1.4999999999833358, 5.27561360368703, 98661.883567360928, 13.182268644612765},
};
static const float plain_ref_alpha[21] = {
    0x1.d441aap-1f,
    0x1.f8ef7p-1f,
    0x0p+0f,
    0x1.ec1c46p-1f,
    0x1.f40ae6p-1f,
    0x1.ecca9p-1f,
    0x1.f399cap-1f,
    0x1.d9dd24p-1f,
    0x0p+0f,
    0x1.f12fcap-1f,
    0x1.eda752p-1f,
    0x1.ee21acp-1f,
    0x1.e77cc8p-1f,
    0x1.e64164p-1f,
    0x0p+0f,
    0x1.f2404cp-1f,
    0x1.9109aap-4f,
    0x1.dec154p-1f,
    0x1.e57032p-1f,
    0x1.e85596p-1f,
    0x0p+0f,
};
static const int plain_ref_gamma[7] = {4, 13, 4, 13, 4, 13, 4};
#define PLAIN_REF_PLACEMENT 5
#define PLAIN_REF_STOP "alternation limit (3)"
