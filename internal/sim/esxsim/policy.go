package esxsim

import "github.com/esxi-users/esxi-users/internal/passwdqc"

// PasswdqcChecker is the default PasswordChecker: the project's passwdqc
// (a port of pam_passwdqc, which ESXi uses, KB 323600) parsing policy as
// ESXi's Security.PasswordQualityControl, checking password for the account
// user with GECOS gecos (on ESXi, the account description).
func PasswdqcChecker(policy, user, gecos, password string) (string, error) {
	p, err := passwdqc.ParseESXi(policy)
	if err != nil {
		return "", err
	}
	// ESXi's /etc/passwd gives local users the home directory "/".
	return p.Check(password, &passwdqc.Account{User: user, Gecos: gecos, Home: "/"}), nil
}

// validPolicy reports whether check can use policy (its error, if any).
func validPolicy(check PasswordChecker, policy string) error {
	_, err := check(policy, "esxsim", "", "esxsim-policy-probe")
	return err
}
