-- IDENT's tables, as far as the ident profile reads them, in PostgreSQL.
--
-- Names are unquoted, so PostgreSQL folds them to lower case, as it folds the unquoted
-- names in the profile's transpiled T-SQL. SQL Server's rowversion (a database-wide
-- counter bumped by every insert and update) is a bigint sequence set by triggers.
-- Types follow SQL Server's: datetime -> timestamp, money/decimal -> numeric, bit -> int.
-- Persons.Birthday is text ('dd.mm.yyyy'), as integrators have seen it in IDENT.

CREATE SEQUENCE rowversion_seq;

CREATE FUNCTION bump_rowversion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.RowVersion := nextval('rowversion_seq');
    RETURN NEW;
END
$$;

CREATE TABLE Branches (ID serial PRIMARY KEY, Name varchar(100) NOT NULL);
CREATE TABLE Armchairs (
    ID serial PRIMARY KEY,
    Name varchar(100) NOT NULL,
    ID_Branches int REFERENCES Branches (ID)
);
CREATE TABLE Persons (
    ID serial PRIMARY KEY,
    Surname varchar(100),
    Name varchar(100),
    Patronymic varchar(100),
    Birthday varchar(10),
    Sex int,
    MobilePhone varchar(100)
);
CREATE TABLE OwnPhones (
    ID serial PRIMARY KEY,
    ID_Persons int NOT NULL REFERENCES Persons (ID),
    Phone varchar(100)
);
CREATE TABLE Patients (
    ID_Persons int PRIMARY KEY REFERENCES Persons (ID),
    PatientNumber int,
    CardNumber varchar(20),
    Status int NOT NULL DEFAULT 0,
    ConformToSending int NOT NULL DEFAULT 1,
    SMSRejection int NOT NULL DEFAULT 0,
    ID_Families int,
    DateTimeChanged timestamp,
    RowVersion bigint NOT NULL
);
CREATE TABLE Items (ID serial PRIMARY KEY, Name varchar(100) NOT NULL);
CREATE TABLE Staffs (
    ID serial PRIMARY KEY,
    ID_Persons int NOT NULL REFERENCES Persons (ID),
    ID_Items int REFERENCES Items (ID),
    Archive int NOT NULL DEFAULT 0,
    DateTimeChanged timestamp,
    RowVersion bigint NOT NULL
);
CREATE TABLE Receptions (
    ID serial PRIMARY KEY,
    ID_Patients int NOT NULL REFERENCES Patients (ID_Persons),
    ID_Staffs int REFERENCES Staffs (ID),
    ID_Armchairs int REFERENCES Armchairs (ID),
    PlanStart timestamp NOT NULL,
    PlanEnd timestamp NOT NULL,
    PatientAppeared timestamp,
    ReceptionStarted timestamp,
    ReceptionEnded timestamp,
    CheckIssued timestamp,
    ReceptionCanceled timestamp,
    ID_ReceptionCancelReasons int,
    CancelReasonComment varchar(200),
    IsNotified int NOT NULL DEFAULT 0,
    DateTimeAdded timestamp,
    DateTimeChanged timestamp,
    RowVersion bigint NOT NULL
);
CREATE TABLE CashDescs (ID serial PRIMARY KEY, Name varchar(100) NOT NULL);
CREATE TABLE PaymentsIn (
    ID serial PRIMARY KEY,
    DateTimePayment timestamp NOT NULL,
    DatePayment date NOT NULL,
    ID_Patients int NOT NULL REFERENCES Patients (ID_Persons),
    Payment numeric(12, 2) NOT NULL,
    ID_CashDescs int REFERENCES CashDescs (ID),
    ID_Receptions int,
    DateTimeAdded timestamp,
    DateTimeChanged timestamp,
    RowVersion bigint NOT NULL
);
CREATE TABLE PaymentsOut (
    ID serial PRIMARY KEY,
    DateTimePayment timestamp NOT NULL,
    ID_Patients int NOT NULL REFERENCES Patients (ID_Persons),
    Payment numeric(12, 2) NOT NULL,
    ID_PaymentsIn int REFERENCES PaymentsIn (ID),
    DateTimeAdded timestamp,
    RowVersion bigint NOT NULL
);

CREATE TRIGGER rv_patients BEFORE INSERT OR UPDATE ON Patients
    FOR EACH ROW EXECUTE FUNCTION bump_rowversion();
CREATE TRIGGER rv_staffs BEFORE INSERT OR UPDATE ON Staffs
    FOR EACH ROW EXECUTE FUNCTION bump_rowversion();
CREATE TRIGGER rv_receptions BEFORE INSERT OR UPDATE ON Receptions
    FOR EACH ROW EXECUTE FUNCTION bump_rowversion();
CREATE TRIGGER rv_paymentsin BEFORE INSERT OR UPDATE ON PaymentsIn
    FOR EACH ROW EXECUTE FUNCTION bump_rowversion();
CREATE TRIGGER rv_paymentsout BEFORE INSERT OR UPDATE ON PaymentsOut
    FOR EACH ROW EXECUTE FUNCTION bump_rowversion();

CREATE UNIQUE INDEX ix_patients_rowversion ON Patients (RowVersion);
CREATE UNIQUE INDEX ix_staffs_rowversion ON Staffs (RowVersion);
CREATE UNIQUE INDEX ix_receptions_rowversion ON Receptions (RowVersion);
CREATE UNIQUE INDEX ix_paymentsin_rowversion ON PaymentsIn (RowVersion);
CREATE UNIQUE INDEX ix_paymentsout_rowversion ON PaymentsOut (RowVersion);
CREATE INDEX ix_receptions_planstart ON Receptions (PlanStart);
CREATE INDEX ix_paymentsin_datetimepayment ON PaymentsIn (DateTimePayment);
CREATE INDEX ix_ownphones_id_persons ON OwnPhones (ID_Persons);

INSERT INTO Branches (Name) VALUES ('Центральный');
INSERT INTO Armchairs (Name, ID_Branches) VALUES ('Кресло 1', 1);
INSERT INTO Items (Name) VALUES ('Стоматолог-терапевт'), ('Стоматолог-хирург');
INSERT INTO CashDescs (Name) VALUES ('Касса'), ('Бонусы');
